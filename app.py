"""prepscope dashboard entry point. Run with ``streamlit run app.py`` (or ``make run``).

The shell (navigation over pages/, URL state, the shared sidebar) lives in ``components.shell``.
"""

from components import shell

shell.main()
