"""Keras 3's name scopes: a weight's path ("outer/inner/kernel") names the layers whose build, call
or add_weight was running when it was made, each layer under the path it was first opened at."""

import contextvars

_stack = contextvars.ContextVar("bigcore_name_scope", default=())


class name_scope:  # noqa: N801  (Keras's name)
    """A part of the path of the weights made inside it. caller: the object opening it; the same
    caller opening the same name again right inside it adds no part (a build calling super().build).
    A caller with a `_parent_path` (a layer that was opened before) goes under that path again, wherever
    it is opened now: a layer's weights all share the path it was first opened at."""

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Argument `name` must be a string and cannot contain character `/`. Received: name={name}")
        self.name, self.caller, self.deduplicate = name, caller, deduplicate
        if override_parent is None and deduplicate and getattr(caller, "_parent_path", None) is not None:
            override_parent = caller._parent_path
        self.override_parent = override_parent
        self._token = None

    def __enter__(self):
        stack = _stack.get()
        top = stack[-1] if stack else None
        if self.deduplicate and top is not None and self.caller is not None and top.caller is self.caller \
                and top.name == self.name:
            return self
        self._token = _stack.set(stack + (self,))
        return self

    def __exit__(self, *exc):
        if self._token is not None:
            _stack.reset(self._token)
            self._token = None
        return False


def current_path():
    """The open scopes' path ("" outside any)."""
    parts = []
    for entry in _stack.get():
        if entry.override_parent is not None:
            parts = [p for p in entry.override_parent.split("/") if p]
        parts.append(entry.name)
    return "/".join(parts)
