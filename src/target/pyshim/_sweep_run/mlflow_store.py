"""MLflow's tracking store for ``MLFLOW_TRACKING_URI=sweep:...``, registered through MLflow's
plugin entry points (``mlflow.tracking_store``, in the ``*.dist-info`` beside this package).

A sweep run is one MLflow run: sweep sets ``MLFLOW_RUN_ID`` to the sweep run id and
``MLFLOW_EXPERIMENT_ID`` to the sweep id, and this store answers for them without any
server. What the script logs to that run (metrics with their step, params, tags; at once or
through MLflow's asynchronous logging, which ends in :meth:`SweepStore.log_batch`) is
appended to the run's metrics file as metric-protocol lines (see ``_sweep_run``): the file
every compute target already reads, so nothing needs a connection back to sweep, nothing
blocks when sweep is gone, and a killed ``sweep`` resumes without losing a value.

Every experiment name resolves to the run's experiment, so ``mlflow.set_experiment(...)``
followed by ``mlflow.start_run()`` lands in the run rather than failing on a mismatch. Runs
the script creates itself (``start_run(nested=True)``, a second top-level run, a
``MlflowClient().create_run``) live in this process only; their metrics are written as
``other_run`` lines, which are not the sweep run's reports. Tags in MLflow's own namespace
(``mlflow.*``) are MLflow's bookkeeping and are not recorded. Artifacts go to the run's
outputs directory (``$SWEEP_OUTPUT_DIR``).
"""

import importlib.util
import inspect
import os
import threading
import time
import uuid
from array import array

import _sweep_run
from mlflow.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunStatus,
    RunTag,
    ViewType,
)
from mlflow.exceptions import MlflowException
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking.abstract_store import AbstractStore

try:  # MLflow 3: logged models
    from mlflow.entities import LoggedModel
except ImportError:  # MLflow 2
    LoggedModel = None

__all__ = ["SweepStore"]


def _skip_absent_spark():
    """Spares MLflow's client a Spark probe that cannot find anything.

    Every ``mlflow.log_metric`` builds two ``MlflowClient``s, and each asks
    ``_get_registry_uri_from_spark_session`` for a model registry URI set in an active Spark
    session, by importing ``pyspark``. Without PySpark that import fails, Python does not
    remember the failure, and the search of every ``sys.path`` entry was 3/4 of a call's
    cost (docs/azure.md). Where PySpark is not installed the function's answer is always
    ``None``, so it is replaced by one that says so at once; with PySpark, or in an MLflow
    without that function, nothing is changed.
    """
    try:
        if importlib.util.find_spec("pyspark") is not None:
            return
        from mlflow.tracking._model_registry import utils
    except (ImportError, ValueError):
        return
    if callable(getattr(utils, "_get_registry_uri_from_spark_session", None)):
        utils._get_registry_uri_from_spark_session = lambda: None


try:  # MLflow 2's RunInfo also wants the run id as run_uuid; MLflow 3's has no such argument
    _RUN_UUID = "run_uuid" in inspect.signature(RunInfo.__init__).parameters
except (TypeError, ValueError):
    _RUN_UUID = False


def _run_info(**fields):
    """A ``RunInfo`` of ``fields``, in the MLflow version at hand."""
    if _RUN_UUID:
        fields["run_uuid"] = fields["run_id"]
    return RunInfo(**fields)


def _now_ms():
    return int(time.time() * 1000)


def _uri(path):
    return "file://" + os.path.abspath(path)


class _Series:
    """The points of one metric of one run, kept for ``get_metric_history`` in arrays: 24
    bytes a point, where a ``Metric`` object takes a few hundred, so a script logging every
    batch of a long training keeps a small memory."""

    __slots__ = ("timestamps", "steps", "values", "last")

    def __init__(self):
        self.timestamps = array("q")
        self.steps = array("q")
        self.values = array("d")
        self.last = None

    def add(self, m):
        self.timestamps.append(int(m.timestamp or 0))
        self.steps.append(int(m.step or 0))
        self.values.append(float(m.value))
        self.last = m

    def has(self, m):
        """Whether a point of ``m``'s step, timestamp and value is here already."""
        step, ts, v = int(m.step or 0), int(m.timestamp or 0), float(m.value)
        return any(
            self.steps[i] == step and self.timestamps[i] == ts and self.values[i] == v
            for i in range(len(self.values))
        )

    def history(self, key):
        return [
            Metric(key, v, t, s) for t, s, v in zip(self.timestamps, self.steps, self.values)
        ]


class _RunState:
    """A run as this process knows it."""

    def __init__(self, info, tags=None):
        self.info = info
        self.metrics = {}  # key -> _Series
        self.params = {}
        self.tags = dict(tags or {})

    def run(self):
        latest = [series.last for series in self.metrics.values()]
        data = RunData(
            metrics=latest,
            params=[Param(k, v) for k, v in self.params.items()],
            tags=[RunTag(k, v) for k, v in self.tags.items()],
        )
        return Run(run_info=self.info, run_data=data)


class SweepStore(AbstractStore):
    """The tracking store of one sweep run (see the module's documentation)."""

    def __init__(self, store_uri=None, artifact_uri=None):
        super().__init__()
        _skip_absent_spark()
        self._lock = threading.Lock()
        self._run_id = os.environ.get("SWEEP_RUN_ID") or "sweep-run"
        self._experiment_id = (
            os.environ.get("MLFLOW_EXPERIMENT_ID") or os.environ.get("SWEEP_SWEEP_ID") or "0"
        )
        self._experiment_name = os.environ.get("SWEEP_SWEEP_ID") or "sweep"
        self._outputs = os.environ.get("SWEEP_OUTPUT_DIR") or os.path.abspath("outputs")
        self._runs = {}
        self._models = {}

    # -- the sweep run and the runs of this process -------------------------------------

    def _state(self, run_id):
        with self._lock:
            st = self._runs.get(run_id)
            if st is None and run_id == self._run_id:
                info = _run_info(
                    run_id=self._run_id,
                    experiment_id=self._experiment_id,
                    user_id=os.environ.get("USER", "sweep"),
                    status=RunStatus.to_string(RunStatus.RUNNING),
                    start_time=_now_ms(),
                    end_time=None,
                    lifecycle_stage=LifecycleStage.ACTIVE,
                    artifact_uri=_uri(self._outputs),
                    run_name=self._run_id,
                )
                st = self._runs[run_id] = _RunState(info)
            return st

    def _known(self, run_id):
        st = self._state(run_id)
        if st is None:
            raise MlflowException(
                "Run '%s' not found: in a sweep run, MLflow knows this run (%s) and the runs "
                "this process created" % (run_id, self._run_id),
                error_code="RESOURCE_DOES_NOT_EXIST",
            )
        return st

    def _experiment(self, name=None):
        return Experiment(
            experiment_id=self._experiment_id,
            name=name or self._experiment_name,
            artifact_location=_uri(self._outputs),
            lifecycle_stage=LifecycleStage.ACTIVE,
            tags=[],
            creation_time=_now_ms(),
            last_update_time=_now_ms(),
        )

    # -- experiments: every name is the run's experiment ---------------------------------

    def search_experiments(
        self,
        view_type=ViewType.ACTIVE_ONLY,
        max_results=None,
        filter_string=None,
        order_by=None,
        page_token=None,
        *args,
        **kwargs
    ):
        return PagedList([self._experiment()], None)

    def create_experiment(self, name, artifact_location=None, tags=None, *args, **kwargs):
        return self._experiment_id

    def get_experiment(self, experiment_id, *args, **kwargs):
        return self._experiment()

    def get_experiment_by_name(self, experiment_name, *args, **kwargs):
        return self._experiment(experiment_name)

    def delete_experiment(self, experiment_id):
        pass

    def restore_experiment(self, experiment_id):
        pass

    def rename_experiment(self, experiment_id, new_name):
        pass

    def set_experiment_tag(self, experiment_id, tag):
        pass

    def delete_experiment_tag(self, experiment_id, key):
        pass

    # -- runs ---------------------------------------------------------------------------

    def get_run(self, run_id):
        return self._known(run_id).run()

    def create_run(self, experiment_id, user_id, start_time, tags, run_name, *args, **kwargs):
        run_id = uuid.uuid4().hex
        tag_map = {t.key: t.value for t in (tags or [])}
        info = _run_info(
            run_id=run_id,
            experiment_id=self._experiment_id,
            user_id=user_id or "sweep",
            status=RunStatus.to_string(RunStatus.RUNNING),
            start_time=start_time or _now_ms(),
            end_time=None,
            lifecycle_stage=LifecycleStage.ACTIVE,
            artifact_uri=_uri(os.path.join(self._outputs, "mlflow-runs", run_id)),
            run_name=run_name or tag_map.get("mlflow.runName") or run_id,
        )
        with self._lock:
            st = self._runs[run_id] = _RunState(info, tag_map)
        return st.run()

    def update_run_info(self, run_id, run_status, end_time, run_name):
        # sweep records how its run ends; the script's end_run() changes nothing there.
        st = self._known(run_id)
        i = st.info
        st.info = _run_info(
            run_id=i.run_id,
            experiment_id=i.experiment_id,
            user_id=i.user_id,
            status=RunStatus.to_string(run_status) if isinstance(run_status, int) else run_status,
            start_time=i.start_time,
            end_time=end_time,
            lifecycle_stage=i.lifecycle_stage,
            artifact_uri=i.artifact_uri,
            run_name=run_name or i.run_name,
        )
        return st.info

    def delete_run(self, run_id):
        pass

    def restore_run(self, run_id):
        pass

    def _search_runs(
        self, experiment_ids, filter_string, run_view_type, max_results, order_by, page_token
    ):
        return [], None

    def get_metric_history(self, run_id, metric_key, max_results=None, page_token=None):
        series = self._known(run_id).metrics.get(metric_key)
        return PagedList(series.history(metric_key) if series else [], None)

    # -- what the script logs -----------------------------------------------------------

    def log_batch(self, run_id, metrics, params, tags):
        st = self._known(run_id)
        own = run_id == self._run_id
        records = []
        for m in metrics or []:
            series = st.metrics.get(m.key)
            if series is None:
                series = st.metrics[m.key] = _Series()
            elif getattr(m, "model_id", None) is not None and series.has(m):
                # MLflow 3's log_model links the run's existing points to the model by
                # logging them again with its model id: the same values, not new reports.
                continue
            series.add(m)
            other = None if own else run_id
            records.append(_sweep_run.metric_record(m.key, float(m.value), m.step, other))
        for p in params or []:
            st.params[p.key] = p.value
            if own:
                records.append({"param": p.key, "value": str(p.value)})
        for t in tags or []:
            st.tags[t.key] = t.value
            if own and not t.key.startswith("mlflow."):
                records.append({"tag": t.key, "value": str(t.value)})
        _sweep_run.write(records)

    def delete_tag(self, run_id, key):
        self._known(run_id).tags.pop(key, None)

    def log_inputs(self, run_id, datasets=None, models=None, *args, **kwargs):
        pass

    def log_outputs(self, run_id, models, *args, **kwargs):
        pass

    def record_logged_model(self, run_id, mlflow_model):
        pass

    def link_traces_to_run(self, trace_ids, run_id):
        pass

    # -- logged models (MLflow 3): kept in the outputs directory -------------------------

    # The fields of a new model taken as MLflow's client gives them (by keyword).
    _MODEL_FIELDS = ("source_run_id", "tags", "params", "model_type")

    def create_logged_model(self, experiment_id=None, name=None, *args, **kwargs):
        if LoggedModel is None:
            raise NotImplementedError("logged models need MLflow 3")
        model_id = "m-" + uuid.uuid4().hex
        now = _now_ms()
        model = LoggedModel(
            experiment_id=self._experiment_id,
            model_id=model_id,
            name=name or model_id,
            artifact_location=_uri(os.path.join(self._outputs, "models", model_id)),
            creation_timestamp=now,
            last_updated_timestamp=now,
            **{k: kwargs.get(k) for k in self._MODEL_FIELDS}
        )
        self._models[model_id] = model
        return model

    def get_logged_model(self, model_id, allow_deleted=False, *args, **kwargs):
        try:
            return self._models[model_id]
        except KeyError:
            raise MlflowException(
                "Logged model '%s' not found" % model_id, error_code="RESOURCE_DOES_NOT_EXIST"
            )

    def finalize_logged_model(self, model_id, status, *args, **kwargs):
        return self.get_logged_model(model_id)

    def set_logged_model_tags(self, model_id, tags, *args, **kwargs):
        pass

    def delete_logged_model_tag(self, model_id, key, *args, **kwargs):
        pass

    def search_logged_models(self, *args, **kwargs):
        return PagedList(list(self._models.values()), None)
