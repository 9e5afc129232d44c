"""The ``local`` target: moto's server in a child process (``process.py`` starts ``server.py``,
which runs ``emulator.py``) on 127.0.0.1, and Python
Lambda handlers run for real beside it (``runner.py``, ``functions.py``, ``workers.py``,
``worker.py``, ``sources.py``), through a seam into moto (``seam.py``)."""
