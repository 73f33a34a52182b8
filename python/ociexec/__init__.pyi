from concurrent.futures import Future
from os import PathLike
from types import TracebackType
from typing import (AsyncIterator, Callable, Iterator, Literal, Mapping, NamedTuple, Optional,
                    Sequence, Tuple, Type, TypedDict, Union)

from typing_extensions import Unpack  # PEP 692; typing.Unpack from Python 3.12

__version__: str
DEFAULT_TIMEOUT_SECONDS: int

_Size = Union[int, str]
_Text = Union[str, bytes]

class Limits(TypedDict):
    timeout: float
    grace: float
    memory: Optional[int]
    cpus: Optional[float]
    pids: Optional[int]
    tmpfs_size: int
    output_cap: int
    ulimit: dict[str, Tuple[Optional[int], Optional[int]]]
    cpuset_cpus: Optional[str]
    cpu_time: Optional[float]
    unenforced: list[str]  # "memory", "cpus", "pids", "cpuset_cpus", "cpu_time"

class ResultRuntime(TypedDict):
    """Result.runtime: the runtime that ran the job."""
    name: str
    version: str

class RuntimeInfo(ResultRuntime):
    """Executor.runtime: Result.runtime's keys, and the runtime's path."""
    path: str

Outcome = Literal["exited", "signaled", "timed_out", "oom_killed", "cpu_time_exceeded"]

class ExecutorError(RuntimeError):
    """An executor failure (not the script's): no runtime, missing rootfs, runtime errors."""
    kind: str  # "runtime_not_found", "runtime_failed", "rootfs_not_found", ...

class InvalidOptionError(ExecutorError, ValueError):
    """A bad option value: a limit, timeout, env entry or interpreter."""

class ConfigError(ExecutorError):
    """A config file that cannot be read, or with a bad key or value (file:line:column)."""

class RuntimeNotFoundError(ExecutorError):
    """No usable runc or crun."""

class LimitNotEnforcedError(ExecutorError):
    """Rootless without a delegated cgroup: a limit the job set cannot be enforced."""

class ImageError(ExecutorError):
    """An image that cannot be fetched, verified or unpacked."""

class ImageNotFound(ImageError):
    """The image, tag, digest or platform is not in the registry, layout or store."""

class RegistryAuthError(ImageError):
    """The registry refused the credentials, or asked for some."""

class CopiedFile:
    """A file read from the job after it ended (copy_out)."""
    @property
    def data(self) -> bytes: ...
    @property
    def truncated(self) -> bool: ...  # cut at copy_out_file_cap, or at what copy_out_cap left
    @property
    def error(self) -> Optional[str]: ...  # why it was not read: a symlink, a fifo, missing
    @property
    def mode(self) -> int: ...
    def __bytes__(self) -> bytes: ...

class Result:
    @property
    def exit_code(self) -> int: ...
    @property
    def stdout(self) -> str: ...
    @property
    def stderr(self) -> str: ...
    @property
    def stdout_bytes(self) -> bytes: ...
    @property
    def stderr_bytes(self) -> bytes: ...
    @property
    def outcome(self) -> Outcome: ...
    @property
    def signal(self) -> Optional[int]: ...
    @property
    def wall_time(self) -> float: ...
    @property
    def cpu_time(self) -> Optional[float]: ...
    @property
    def peak_memory(self) -> Optional[int]: ...
    @property
    def stdout_truncated(self) -> bool: ...
    @property
    def stderr_truncated(self) -> bool: ...
    @property
    def runtime(self) -> ResultRuntime: ...
    @property
    def container_id(self) -> str: ...
    @property
    def pooled(self) -> bool: ...
    @property
    def warnings(self) -> list[str]: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def files(self) -> dict[str, CopiedFile]: ...  # copy_out's, by path
    def __iter__(self) -> Iterator[Union[int, str]]: ...

class _JobOptions(TypedDict, total=False):
    """The keyword options of a job; see the module's docstring."""
    grace_seconds: float
    memory: Optional[_Size]
    cpus: Optional[Union[float, str]]
    pids_limit: Optional[int]
    pids: Optional[int]  # the first spelling of pids_limit
    cpuset_cpus: Optional[str]
    cpu_time_seconds: Optional[float]
    tmpfs_size: _Size
    output_cap: _Size
    env: Union[Mapping[str, str], Sequence[str], None]
    stdin: Optional[_Text]
    interpreter: Union[str, Sequence[str], None]
    rootfs: Union[str, PathLike[str], None]
    image: Optional[str]
    pull: str  # "missing" | "always" | "never"
    user: Optional[str]
    workdir: str
    network: str  # "none" | "private" | "private:no-host-loopback" | "host"
    volume: Union[str, Sequence[str]]
    mount: Union[str, Sequence[str]]
    tmpfs: Union[str, Sequence[str]]
    devices: Union[str, Sequence[str]]  # "HOSTPATH[:JOBPATH][:PERMS]" or "VENDOR/CLASS=NAME"
    gpus: Union[str, int, None]  # "all" or how many
    args: Sequence[str]
    env_file: Union[str, PathLike[str], None]
    init: bool
    ulimit: Union[Mapping[str, Union[Optional[int], Tuple[Optional[int], Optional[int]]]], Sequence[str]]
    on_output: Optional[Callable[[str, bytes], None]]  # ("stdout" | "stderr", data)
    files: Mapping[str, _Text]  # path (relative to the work dir) -> content
    # "HOST[:JOBPATH]", (host, job_path), or a list of them
    copy_in: Union[str, PathLike[str], Tuple[Union[str, PathLike[str]], str], Sequence[Union[str, Tuple[Union[str, PathLike[str]], str]]]]
    copy_out: Union[str, Sequence[str]]  # paths or globs, read after the job into result.files
    copy_out_file_cap: _Size
    copy_out_cap: _Size
    allow_unenforced_limits: bool

class _ExecutorDefaults(_JobOptions, total=False):
    timeout_seconds: float
    # Executor settings' first spellings, still accepted (runtime_timeout_seconds, ...)
    runtime_timeout: float
    pool_max_age: float
    kill_wait: float

class _RunOptions(_JobOptions, total=False):
    runtime: Optional[str]

class _ImageOptions(TypedDict, total=False):
    image_store: Union[str, PathLike[str]]
    tls_verify: bool
    insecure_registries: Sequence[str]
    cert_file: Union[str, PathLike[str]]  # a PEM CA bundle
    creds: str  # "USER:PASSWORD"
    authfile: Union[str, PathLike[str]]
    platform: str  # "os/arch[/variant]"
    image_max_size: _Size
    image_max_entries: int
    pull_timeout_seconds: float
    # The first spellings, still accepted
    store: Union[str, PathLike[str]]
    ca_file: Union[str, PathLike[str]]
    credentials: str
    auth_file: Union[str, PathLike[str]]
    max_unpacked_size: _Size
    max_entries: int
    pull_timeout: float

class ImageInfo(TypedDict):
    name: str
    digest: str
    config_digest: str
    layers: int
    size: int
    pulled_at: float

class PullSummary(ImageInfo):
    layers_fetched: int
    layers_cached: int
    bytes_fetched: int

class PruneSummary(TypedDict):
    layers_removed: int
    blobs_removed: int
    in_use: int
    bytes_freed: int

class OutputEvent(NamedTuple):
    stream: str  # "stdout" | "stderr"
    data: bytes

class JobStream(AsyncIterator[OutputEvent]):
    def __aiter__(self) -> JobStream: ...
    async def __anext__(self) -> OutputEvent: ...
    async def aclose(self) -> None: ...
    async def result(self) -> Result: ...

_Config = Union[Literal["auto"], str, PathLike[str], None]

class Executor:
    def __init__(
        self,
        state_dir: Optional[Union[str, PathLike[str]]] = ...,
        runtime: Optional[str] = ...,
        cgroup_parent: Optional[str] = ...,
        runtime_timeout_seconds: Optional[float] = ...,
        pool_size: Optional[int] = ...,
        pool_max_age_seconds: Optional[float] = ...,
        max_concurrent_jobs: Optional[int] = ...,
        init_path: Optional[Union[str, PathLike[str]]] = ...,
        images: Optional[_ImageOptions] = ...,
        pool_max_containers: Optional[int] = ...,
        kill_wait_seconds: Optional[float] = ...,
        cdi_spec_dirs: Optional[Sequence[Union[str, PathLike[str]]]] = ...,
        warm_interpreters: Optional[bool] = ...,
        config: _Config = ...,
        **defaults: Unpack[_ExecutorDefaults],
    ) -> None: ...
    def __enter__(self) -> Executor: ...
    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        traceback: Optional[TracebackType],
    ) -> Literal[False]: ...
    def submit(
        self, script: _Text, timeout_seconds: Optional[float] = ..., **options: Unpack[_RunOptions]
    ) -> Future[Result]: ...
    async def run_async(
        self, script: _Text, timeout_seconds: Optional[float] = ..., **options: Unpack[_RunOptions]
    ) -> Result: ...
    def stream(
        self,
        script: _Text,
        timeout_seconds: Optional[float] = ...,
        window: int = ...,
        **options: Unpack[_RunOptions],
    ) -> JobStream: ...
    def prewarm(
        self, timeout_seconds: Optional[float] = ..., **options: Unpack[_RunOptions]
    ) -> int: ...
    def run(
        self, script: _Text, timeout_seconds: Optional[float] = ..., **options: Unpack[_RunOptions]
    ) -> Result: ...
    def execute_script(
        self, script: _Text, timeout_seconds: Optional[float] = ..., **options: Unpack[_RunOptions]
    ) -> Tuple[int, str, str]: ...
    def collect_garbage(self) -> list[str]: ...
    def shutdown(self, wait: bool = ..., *, cancel_futures: bool = ...) -> None: ...
    def close(self) -> None: ...
    @property
    def runtime(self) -> RuntimeInfo: ...

def run(script: _Text, timeout_seconds: float = 300, **options: Unpack[_RunOptions]) -> Result: ...
def execute_script(
    script: _Text, timeout_seconds: float = 300, **options: Unpack[_RunOptions]
) -> Tuple[int, str, str]: ...
def pull_image(
    reference: str, config: _Config = ..., **options: Unpack[_ImageOptions]
) -> PullSummary: ...
def list_images(config: _Config = ..., **options: Unpack[_ImageOptions]) -> list[ImageInfo]: ...
def remove_image(
    reference: str, config: _Config = ..., **options: Unpack[_ImageOptions]
) -> list[str]: ...
def prune_images(config: _Config = ..., **options: Unpack[_ImageOptions]) -> PruneSummary: ...
