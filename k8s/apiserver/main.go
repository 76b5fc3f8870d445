// kube-apiserver, as upstream's cmd/kube-apiserver/apiserver.go builds it, from our own module so
// the staging replace directives in go.mod apply (k8s.io/kubernetes cannot be `go install`ed).
package main

import (
	"os"
	_ "time/tzdata" // time zones, as upstream's binary embeds them

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream registers them
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
