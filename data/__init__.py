"""Bundled data, installed as the package ``l2v_data``: the default encoders and the demo's sample documents.

See NOTICE for sources and licences. ``indexer.defaults`` finds them through ``importlib.resources``,
so an editable checkout and a plain ``pip install`` behave the same.
"""
