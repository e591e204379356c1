import kugel_common

EXPECTED = [
    "ApiKeyAuth",
    "BasicAuth",
    "BearerAuth",
    "BreakerState",
    "CircuitOpenError",
    "ClientSettings",
    "Clock",
    "Hooks",
    "HttpClientError",
    "HttpClientHelper",
    "InvalidEndpointError",
    "NotFoundError",
    "RequestInfo",
    "Resolver",
    "ResponseInfo",
    "ResponseTooLargeError",
    "ServiceAddress",
    "ServiceClientPool",
    "ServiceNotConfiguredError",
    "ServiceRegistry",
    "ServiceUnavailableError",
    "SystemClock",
    "TokenProvider",
    "__version__",
    "breaker_state",
    "close_all_clients",
    "default_pool",
    "get_service_client",
    "isolate_breaker",
    "metrics_snapshot",
    "path",
    "reset_breaker",
    "reset_metrics",
    "set_default_pool",
    "set_testing",
]


def test_public_names_are_pinned() -> None:
    assert kugel_common.__all__ == EXPECTED
    assert sorted(kugel_common.__all__) == kugel_common.__all__
    for name in EXPECTED:
        assert getattr(kugel_common, name) is not None


def test_error_tree() -> None:
    from kugel_common import errors

    assert issubclass(errors.CircuitOpenError, errors.ServiceUnavailableError)
    assert issubclass(errors.ServiceUnavailableError, errors.HttpClientError)
    assert issubclass(errors.NotFoundError, errors.HttpClientError)
    assert issubclass(errors.InvalidEndpointError, ValueError)
    assert issubclass(errors.ServiceNotConfiguredError, errors.HttpClientError)
