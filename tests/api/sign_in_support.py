"""What the sign-in tests share: the password of the user ``dana`` that the ``governance``
fixture of tests/api/conftest.py creates."""

PASSWORD = "Quartz-Lantern-Orbit-7"
