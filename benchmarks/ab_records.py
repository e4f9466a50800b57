"""The A/B harness's records: what a session runs, measures and reports (ab.py, ab_run.py,
ab_report.py pass these, never dicts with string keys).

results.json is these records as JSON (`to_json`): a field that is None is left out, so an
outcome without an error has no "error" key, as readers of earlier reports expect.
"""

import dataclasses
import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass
class Workload:
    """A program to run under every allocator."""
    name: str
    argv: List[str]
    what: str
    cwd: Optional[str] = None
    env: Dict[str, str] = field(default_factory=dict)  # set for every allocator alike


@dataclass
class Allocator:
    """An allocator under test; glibc's has no library (nothing preloaded)."""
    label: str
    library: Optional[str] = None

    @property
    def is_libfreebump(self) -> bool:
        return self.label.startswith("libfreebump")


@dataclass
class Sample:
    """One timed run."""
    wall: float      # seconds
    cpu: float       # user + sys seconds
    sys: float       # sys seconds
    rss_kib: int     # peak RSS
    metrics: Dict[str, float] = field(default_factory=dict)  # ab-metric lines of the workload


@dataclass
class Run:
    """What one run yields before it becomes a Sample: its output's digest and, for
    libfreebump, whether the statistics report appeared; for a proof run, the proof."""
    sample: Sample
    digest: str
    stats_report: Optional[bool] = None
    proof: Optional[str] = None


@dataclass
class Spread:
    median: float
    min: float
    max: float

    @staticmethod
    def of(values: List[float]) -> "Spread":
        return Spread(statistics.median(values), min(values), max(values))


@dataclass
class Outcome:
    """One allocator on one workload: its samples, or the error that stopped it; then the
    medians and the ratios against glibc's medians (summarize)."""
    samples: List[Sample] = field(default_factory=list)
    proof: Optional[str] = None
    error: Optional[str] = None
    stats_reports: Optional[int] = None  # libfreebump: runs that printed the report
    warmup_wall: Optional[float] = None
    wall: Optional[Spread] = None
    cpu: Optional[Spread] = None
    sys: Optional[Spread] = None
    rss_kib: Optional[Spread] = None
    metrics: Dict[str, float] = field(default_factory=dict)
    time_ratio: Optional[float] = None
    cpu_ratio: Optional[float] = None
    sys_ratio: Optional[float] = None
    rss_ratio: Optional[float] = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def has_ratios(self) -> bool:
        return self.time_ratio is not None


@dataclass
class WorkloadResults:
    """Every allocator's outcome on one workload, in the session's allocator order."""
    name: str
    outcomes: Dict[str, Outcome]


@dataclass
class Geomean:
    """An allocator's geometric means of its ratios over the workloads both it and glibc ran."""
    time: float
    rss: float
    workloads: int
    worst: float           # its largest time ratio
    worst_workload: str


@dataclass
class Targets:
    """libfreebump's targets against glibc (passed in: benchmarks/BUILD.bazel, --target-*)."""
    time_geomean: Optional[float] = None
    slowest: Optional[float] = None
    rss_geomean: Optional[float] = None

    def any(self) -> bool:
        return any(value is not None for value in (self.time_geomean, self.slowest, self.rss_geomean))


@dataclass
class Context:
    """How the session ran, for the report's header."""
    command: str
    runs: int
    scale: float
    machine: str
    load: Tuple[float, float, float]
    allocators: Dict[str, str]             # label: library, or what glibc's is
    workloads: Dict[str, Dict[str, object]]  # name: {"argv": [...], "what": "..."}


@dataclass
class Session:
    """A whole session: what results.json holds."""
    context: Context
    results: List[WorkloadResults]
    geomeans: Dict[str, Geomean]
    labels: List[str]  # glibc first

    def to_json(self) -> dict:
        return {"context": _without_none(dataclasses.asdict(self.context)),
                "results": {r.name: {label: _without_none(dataclasses.asdict(outcome))
                                     for label, outcome in r.outcomes.items()}
                            for r in self.results},
                "geomeans": {label: dataclasses.asdict(g) for label, g in self.geomeans.items()}}


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
