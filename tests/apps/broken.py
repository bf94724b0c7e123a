import nonexistent_module_for_oxwsgi_tests  # noqa: F401

def application(environ, start_response):
    pass
