"""The orders service on aiohttp over dynamorm-async (see app.py)."""
