"""API Gateway on the local target: requests to REST and HTTP APIs run the real handlers.

moto stores APIs (and, with ``cfn.py``, creates them from templates) but serves none of them.
``gateway.py`` is a WSGI layer in front of moto's server that answers
``<emulator>/_aws/execute-api/<api-id>/<stage>/<path>``: it finds the route in moto's models
(``apis.py``), builds API Gateway's event (``events.py``), runs the handler through the Lambda
runner and maps the answer back as API Gateway does. ``urls.py`` turns the
``https://<api-id>.execute-api.<region>.amazonaws.com`` URLs of stack outputs into local ones.
"""
