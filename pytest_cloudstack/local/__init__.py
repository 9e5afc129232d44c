"""The ``local`` target: moto's server in-process on 127.0.0.1 (``emulator.py``), and Python
Lambda handlers run for real beside it (``runner.py``, ``functions.py``, ``workers.py``,
``worker.py``, ``sources.py``), through a seam into moto (``seam.py``)."""
