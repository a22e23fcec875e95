"""The API's routers, one module per resource. Routes translate HTTP to service calls and
back; every rule is the service's."""
