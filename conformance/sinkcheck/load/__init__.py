"""The load mode's Locust engine (``sink-check load server --engine locust``).

:mod:`.locust_engine` starts Locust processes and turns what they report into the one load report
(:mod:`sinkcheck.load_mode`); :mod:`.locust_user` is the Locust user, loaded only inside those
processes (Locust monkeypatches with gevent when imported: never import it here or in the asyncio
engine).
"""
