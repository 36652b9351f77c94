"""An orders service on FastAPI over dynamorm-async (see app.py; the domain is in orders.py)."""
