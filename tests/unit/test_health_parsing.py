from servicedown.diagnosis.health import failed_components


def test_engine_list_shape():
    body = {"status": "unhealthy", "checks": [
        {"component": "database", "status": "unhealthy", "details": {"message": "refused"}},
        {"component": "disk", "status": "healthy"}]}
    assert failed_components(body) == ["database: unhealthy ({'message': 'refused'})"]


def test_probe_dict_shape():
    body = {"status": "fail", "checks": {"memory": {"status": "fail", "message": "97% used"},
                                         "event_loop": {"status": "pass"}}}
    assert failed_components(body) == ["memory: fail (97% used)"]


def test_garbage_bodies():
    assert failed_components(None) == []
    assert failed_components("text") == []
    assert failed_components({"checks": [1, "x", None]}) == []
    assert failed_components({"checks": {"a": 3}}) == []
