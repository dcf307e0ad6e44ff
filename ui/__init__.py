"""Reusable Streamlit pieces: settings and session plumbing, cached queries, banners."""
