"""``azureml.core.run.Run`` for sweep runs without azureml-core: the surface HyperDrive
training scripts use, recording what they log through sweep's metric protocol
(``$SWEEP_METRICS_FILE``).

- ``log(name, value, description="", step=None)``: a report of metric ``name`` (a name logged
  again is a series; ``step`` is kept when it is a non-negative integer). Values that are
  not numbers (text, booleans) are not metrics to sweep and are skipped.
- ``log_list(name, values)``: each numeric element a report of ``name``.
- ``log_row(name, **columns)`` and ``log_table(name, {column: [values]})``: each numeric
  column a metric ``name.column``.
- ``tag``, ``set_tags``, ``add_properties``: run tags.
- ``log_image``, ``upload_file``, ``upload_files``, ``upload_folder``: the files are copied
  into the run's outputs directory (``$SWEEP_OUTPUT_DIR``), under the given name.
- ``child_run()``: a run of its own; what it logs is not this run's (as for HyperDrive's
  primary metric), and sweep only mentions it when the primary metric is missing.
- ``complete``, ``fail``, ``cancel``, ``flush``: nothing to do (sweep records how the run
  ends); a ``with`` block is allowed.
"""

import os
import shutil
import sys
import uuid

import _sweep_run

__all__ = ["Run"]


class _Experiment:
    """The little of ``azureml.core.Experiment`` a script reads from its run."""

    def __init__(self, name):
        self.name = name
        self.workspace = None

    def __repr__(self):
        return "Experiment(name=%r)" % self.name


def _artifact_name(name):
    # Azure's artifact names usually start with `outputs/`; sweep's outputs directory is
    # that folder already.
    name = str(name).replace("\\", "/").lstrip("/")
    if name.startswith("outputs/"):
        name = name[len("outputs/"):]
    parts = [p for p in name.split("/") if p not in ("", ".", "..")]
    return os.path.join(*parts) if parts else "artifact"


class Run:
    """A sweep run, seen through azureml-core's ``Run``."""

    _context = None

    def __init__(self, run_id=None, parent=None, name=None):
        self._id = run_id or _sweep_run.run_id() or "OfflineRun_%s" % uuid.uuid4()
        # Only the run sweep started reports; a child run's values are another run's.
        self._own = parent is None
        self._parent = parent
        self._name = name or self._id
        self._tags = {}
        self._properties = {}
        self._metrics = {}
        self.experiment = _Experiment(os.environ.get("SWEEP_SWEEP_ID", "sweep"))

    # -- getting the run --------------------------------------------------------------

    @classmethod
    def get_context(cls, allow_offline=True, used_for_context_manager=False, **kwargs):
        """The run this process is (one object per process)."""
        if cls._context is None:
            cls._context = cls()
        return cls._context

    @classmethod
    def get_submitted_run(cls, **kwargs):
        """Deprecated spelling of :meth:`get_context`."""
        return cls.get_context(**kwargs)

    @property
    def id(self):
        """The sweep run id (``$SWEEP_RUN_ID``)."""
        return self._id

    @property
    def parent(self):
        """``None``: sweep's runs have no Azure parent run."""
        return self._parent

    @property
    def name(self):
        return self._name

    display_name = name

    @property
    def number(self):
        return 0

    @property
    def properties(self):
        return dict(self._properties)

    @property
    def tags(self):
        return dict(self._tags)

    @property
    def status(self):
        return "Running"

    def get_status(self):
        return "Running"

    def get_details(self):
        return {"runId": self._id, "status": "Running", "properties": dict(self._properties)}

    def get_tags(self):
        return dict(self._tags)

    def get_properties(self):
        return dict(self._properties)

    def get_metrics(self, name=None, recursive=False, run_type=None, populate=False):
        """What this process logged so far: a value per name, a list for a series."""
        def shown(vs):
            return vs[0] if len(vs) == 1 else list(vs)

        if name is not None:
            return {name: shown(self._metrics[name])} if name in self._metrics else {}
        return {k: shown(v) for k, v in self._metrics.items()}

    def get_children(self, recursive=False, tags=None, properties=None, type=None, status=None):
        return iter(())

    @property
    def input_datasets(self):
        return {}

    @property
    def output_datasets(self):
        return {}

    # -- metrics ----------------------------------------------------------------------

    def _record(self, name, value, step=None):
        self._metrics.setdefault(name, []).append(value)
        v = _sweep_run.number(value)
        if v is None:
            return None
        return _sweep_run.metric_record(str(name), v, step, None if self._own else self._id)

    def _write(self, records):
        _sweep_run.write([r for r in records if r is not None])

    def log(self, name, value, description="", step=None):
        """Reports ``value`` of metric ``name`` (a repeated name is a series)."""
        self._write([self._record(name, value, step)])

    def log_list(self, name, value, description=""):
        """Reports each element of ``value`` as a value of metric ``name``."""
        self._write([self._record(name, v) for v in list(value)])

    def log_row(self, name, description=None, **kwargs):
        """Reports each numeric column as a value of metric ``name.column``."""
        self._write([self._record("%s.%s" % (name, k), v) for k, v in kwargs.items()])

    def log_table(self, name, value, description=""):
        """Reports each numeric column's values as metric ``name.column``, row by row."""
        cols = {k: list(v) for k, v in dict(value).items()}
        n = max((len(v) for v in cols.values()), default=0)
        recs = []
        for i in range(n):
            for k, v in cols.items():
                if i < len(v):
                    recs.append(self._record("%s.%s" % (name, k), v[i]))
        self._write(recs)

    def _not_a_metric(self, name, value):
        self._metrics.setdefault(name, []).append(value)

    def log_confusion_matrix(self, name, value, description=""):
        self._not_a_metric(name, value)

    def log_accuracy_table(self, name, value, description=""):
        self._not_a_metric(name, value)

    def log_residuals(self, name, value, description=""):
        self._not_a_metric(name, value)

    def log_predictions(self, name, value, description=""):
        self._not_a_metric(name, value)

    # -- tags and properties ----------------------------------------------------------

    def _tags_out(self, pairs):
        recs = []
        for k, v in pairs:
            rec = {"tag": str(k), "value": "" if v is None else str(v)}
            if self._own:
                recs.append(rec)
        _sweep_run.write(recs)

    def tag(self, key, value=None):
        """Sets run tag ``key``."""
        self._tags[key] = value
        self._tags_out([(key, value)])

    def set_tags(self, tags):
        """Sets several run tags."""
        self._tags.update(tags)
        self._tags_out(dict(tags).items())

    def add_properties(self, properties):
        """Properties are recorded as run tags."""
        self._properties.update(properties)
        self._tags_out(dict(properties).items())

    def remove_tags(self, tags):
        for t in tags:
            self._tags.pop(t, None)

    # -- files ------------------------------------------------------------------------

    def _outputs(self):
        return os.environ.get("SWEEP_OUTPUT_DIR") or os.path.abspath("outputs")

    def _copy(self, name, src):
        dest = os.path.join(self._outputs(), _artifact_name(name))
        os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
        if hasattr(src, "read"):
            with open(dest, "wb") as f:
                shutil.copyfileobj(src, f)
        elif os.path.abspath(src) == os.path.abspath(dest):
            pass
        elif os.path.isdir(src):
            shutil.copytree(src, dest, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dest)
        return dest

    def upload_file(self, name, path_or_stream, datastore_name=None):
        """Copies a file (or a stream) to the outputs directory as ``name``."""
        self._copy(name, path_or_stream)

    def upload_files(self, names, paths, return_artifacts=False, timeout_seconds=None,
                     datastore_name=None):
        for n, p in zip(names, paths):
            self._copy(n, p)

    def upload_folder(self, name, path, datastore_name=None):
        self._copy(name, path)

    def log_image(self, name, path=None, plot=None, description=""):
        """Copies the image file, or saves the matplotlib plot, to the outputs directory."""
        if plot is not None:
            dest = os.path.join(self._outputs(), _artifact_name(name))
            if not os.path.splitext(dest)[1]:
                dest += ".png"
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            plot.savefig(dest)
        elif path is not None:
            ext = os.path.splitext(str(path))[1]
            target = _artifact_name(name)
            if ext and not target.endswith(ext):
                target += ext
            self._copy(target, path)

    def download_file(self, name, output_file_path=None, _validate_checksum=False):
        src = os.path.join(self._outputs(), _artifact_name(name))
        shutil.copyfile(src, output_file_path or os.path.basename(src))

    def get_file_names(self):
        root = self._outputs()
        out = []
        for d, _, files in os.walk(root):
            for f in files:
                out.append(os.path.relpath(os.path.join(d, f), root))
        return out

    # -- children and lifecycle ---------------------------------------------------------

    def child_run(self, name=None, run_id=None, outputs=None):
        """A run of its own: its values are not this run's."""
        name = name or str(uuid.uuid4())
        return Run(run_id=run_id or "%s.%s" % (self._id, name), parent=self, name=name)

    def complete(self, _set_status=True):
        pass

    def fail(self, error_details=None, error_code=None, _set_status=True):
        if error_details is not None:
            sys.stderr.write("Run failed with error code %s:\n%s\n" % (error_code, error_details))

    def cancel(self):
        pass

    def flush(self, timeout_seconds=300):
        pass

    def wait_for_completion(self, show_output=False, wait_post_processing=False,
                            raise_on_error=True):
        return self.get_details()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        return False

    def __repr__(self):
        return "Run(id=%r)" % self._id
