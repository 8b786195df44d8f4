"""L2V Search UI: a Streamlit app over an ``indexer`` database (search, compare encoders, clusters, index).

Streamlit code lives in ``app.py`` and ``views/``; everything that can be tested without
a browser (passage highlighting, overlap/rank metrics, clustering, caches, safe file
access) lives in small pure-Python modules beside it. ``l2v ui DB`` starts the app.
"""
