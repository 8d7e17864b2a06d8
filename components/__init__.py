"""Reusable Streamlit pieces shared by the pages: session/URL state, the sidebar, the variant editor."""
