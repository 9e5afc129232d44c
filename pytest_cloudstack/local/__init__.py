"""The ``local`` target: moto's server in-process, on 127.0.0.1."""
