"""How to talk to each platform: one backend per connection kind, as testinfra's backends.

A backend knows how to ask (the Docker API, a testinfra host, the Kubernetes REST API, HTTP)
and returns the platform's raw answers (inspect documents, event lists, log text, command
results, API objects). What the answers mean is the targets' business (servicedown/targets/).
Keeping the raw answers apart is also what lets an incident be recorded and replayed.
"""

from servicedown.backends.command import BackendError, CallTimeout, CommandResult, within

__all__ = ["BackendError", "CallTimeout", "CommandResult", "within"]
