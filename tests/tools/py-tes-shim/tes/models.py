"""TES model objects: keyword constructors, attribute and item access, JSON without nulls."""


class _Model:
    _fields = ()

    def __init__(self, **kwargs):
        unknown = set(kwargs) - set(self._fields)
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown fields {sorted(unknown)}")
        for f in self._fields:
            setattr(self, f, kwargs.get(f))

    def __getitem__(self, key):
        return getattr(self, key)

    def __setitem__(self, key, value):
        if key not in self._fields:
            raise KeyError(key)
        setattr(self, key, value)

    def as_dict(self):
        out = {}
        for f in self._fields:
            v = _plain(getattr(self, f))
            if v is not None:
                out[f] = v
        return out

    def __repr__(self):
        return f"{type(self).__name__}({self.as_dict()!r})"


def _plain(v):
    if isinstance(v, _Model):
        return v.as_dict()
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v if x is not None]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items() if x is not None}
    return v


class Input(_Model):
    _fields = ("url", "path", "type", "name", "description", "content", "streamable")


class Output(_Model):
    _fields = ("url", "path", "path_prefix", "type", "name", "description")


class Executor(_Model):
    _fields = ("image", "command", "workdir", "stdin", "stdout", "stderr", "env", "ignore_error")


class Resources(_Model):
    _fields = ("cpu_cores", "ram_gb", "disk_gb", "preemptible", "zones",
               "backend_parameters", "backend_parameters_strict")


class ExecutorLog(_Model):
    _fields = ("start_time", "end_time", "stdout", "stderr", "exit_code")


class OutputFileLog(_Model):
    _fields = ("url", "path", "size_bytes")


class TaskLog(_Model):
    _fields = ("start_time", "end_time", "metadata", "logs", "outputs", "system_logs")


class Task(_Model):
    _fields = ("id", "state", "name", "description", "inputs", "outputs", "resources",
               "executors", "volumes", "tags", "logs", "creation_time")

    @classmethod
    def from_dict(cls, d):
        t = cls()
        for f in cls._fields:
            setattr(t, f, d.get(f))
        return t
