"""A minimal stand-in for the py-tes client (package ``tes``), which Debian does not ship.

Snakemake 7.21's TES executor imports ``tes`` and uses ``tes.HTTPClient`` (create_task,
get_task, cancel_task) and the ``tes.models`` classes. This shim implements exactly that
surface and speaks real HTTP (python3-requests) to the server, like py-tes 0.4: it calls
``<url>/v1/tasks``. Used only by SafeFlow's tests.
"""

from tes.client import HTTPClient  # noqa: F401
from tes.models import (  # noqa: F401
    Executor,
    ExecutorLog,
    Input,
    Output,
    OutputFileLog,
    Resources,
    Task,
    TaskLog,
)

__version__ = "0.4.2-safeflow-shim"
