"""The SDK: :class:`~modelyard.sdk.client.Client` and what it hands out (``ActiveRun``,
the datasets facade, lineage walks, autolog). It calls the services of
:mod:`modelyard.services` in this process, or a server through :mod:`modelyard.remote`;
nothing below it imports it."""
