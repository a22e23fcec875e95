"""Request and answer models of the API, one module per resource (``XCreate`` in,
``XPublic`` out). Service objects are turned into answer models; table rows never are."""
