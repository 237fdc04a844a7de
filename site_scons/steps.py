"""What each step of the recipe hands to the next: SConstruct passes these on, no tool reads
another tool's value from env. env keeps only what SCons itself reads (CC, CXX, flags, builders).
"""

from dataclasses import dataclass, field


@dataclass(eq=False)
class Plan:
    """Every variable checked and each choice made, before anything is fetched."""
    toolchain: str          # a name in toolchains.REGISTRY (toolchain=auto resolved)
    cpu: str                # native, portable, performant or multi (cpu=auto resolved)
    values: dict            # the build's variables, as given
    model: object = None    # a models.lock Pin, the path of model=PATH, or None
    ui: object = None       # None (ui=none), "upstream", or the absolute path of ui=DIR
    args: str = None        # the path of args=FILE, or None


@dataclass(eq=False)
class Inputs:
    """The realised pins: paths in the store (or the user's own files)."""
    llama_cpp_pin: object
    llama_cpp_tree: str      # verified, unpatched
    model: str = None        # a .gguf path, or None
    toolchain: object = None  # what the toolchain module realised (e.g. an unpacked cosmocc), or None
    node: object = None      # a lsone.inputs.node.Node or PinnedNode (ui=upstream), or None


@dataclass(eq=False)
class Toolchain:
    """A configured toolchain: what the compile steps need beyond env's CC/CXX/flags."""
    name: str
    module: object           # its toolchains.ToolchainModule: arch flags, partial link, localise
    identity: object         # a toolchains.ToolchainIdentity
    cpu: str
    arches: list             # each object is compiled for these
    label: str               # upstream's BUILD_TARGET
    build_root: str          # "#build..." where its objects go
    cpu_flags: list          # the cpu= baseline every CPU-backend object gets
    openmp_flags: list = field(default_factory=list)
    openmp_defines: list = field(default_factory=list)
    system_libs: list = field(default_factory=list)
    forced_includes: list = field(default_factory=list)  # nodes -include'd into every C++ object
    level_isolation_flags: list = field(default_factory=list)  # cpu=multi: compile flags of each level
    relocatable_tools: dict = field(default_factory=dict)  # cpu=multi: {arch: (ld, objcopy)}
    target_os: str = "linux"  # "macos": Darwin's defines and a Mach-O link (cosmocc's APEs build as linux)
    general_node: object = None  # Value node every object depends on (set by the registry)
    cpu_node: object = None      # Value node the CPU backend's objects depend on

    @property
    def fat(self):
        """One compile builds every architecture (cosmocc)."""
        return len(self.arches) > 1

    def arch_flags(self, arch, flags):
        return self.module.arch_flags(arch, flags)

    def twin_path(self, path, arch):
        return self.module.twin_path(path, arch)

    def partial_link(self, arch, out, inputs):
        return self.module.partial_link(self.relocatable_tools[arch], out, inputs)

    def localise(self, arch, options, src, out):
        return self.module.localise(self.relocatable_tools[arch], options, src, out)


@dataclass(eq=False)
class Source:
    """The patched llama.cpp tree."""
    pin: object
    dir: object              # Dir node of build/llama.cpp
    provenance: dict


@dataclass(eq=False)
class CpuBackend:
    """ggml's CPU backend: a library (one level) or isolated level objects, plus the dispatcher's object."""
    libraries: list
    objects: list


@dataclass(eq=False)
class Ui:
    """The web UI to embed: nothing, a directory of static files, or the built upstream UI's node."""
    directory: str = None
    built: object = None
    node_identity: dict = None  # the Node.js that built it, for the manifest

    @property
    def entries(self):
        return self.directory or self.built


@dataclass(eq=False)
class Server:
    """The linked llama-server and the library the runtime test drivers link."""
    program: list
    runtime_lib: object


@dataclass(eq=False)
class Package:
    """build/llama-server-one."""
    packaged: list
