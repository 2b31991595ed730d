// swift-tools-version:6.0
// Replicate: replications of five attention-bottleneck papers on a CPU, sharing one
// tensor/autograd core. Each folder papers/<name>/ holding a main.swift becomes an executable.
import Foundation
import PackageDescription

// MARK: - Build settings

// Hot code needs AVX2/FMA codegen: without it SIMD `addingProduct` becomes a libm `fmaf`
// call per lane (~100x slower), and -O's overflow checks block autovectorisation of scalar
// loops (see ../shared/papers/environment.md). A binary built this way needs an AVX2/FMA CPU.
let fastMath: [SwiftSetting] = [
    .unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-Xcc", "-mf16c"]),
    .unsafeFlags(["-Ounchecked", "-enforce-exclusivity=unchecked"], .when(configuration: .release)),
]

// MARK: - Papers are discovered, not registered
//
// papers/<name>/main.swift            the paper's executable `<name>` (its experiment, top to bottom)
// papers/<name>/<Module>/*.swift      optional: the paper's model and mechanism as library `<Module>`
//                                     (a folder named with a capital letter), importable by bench
//                                     and by tests; the executable depends on it
// papers/<name>/Tests/*.swift         optional: the library's tests, target `<Module>Tests`

let root = Context.packageDirectory
let fm = FileManager.default
func isDirectory(_ path: String) -> Bool {
    var dir: ObjCBool = false
    return fm.fileExists(atPath: path, isDirectory: &dir) && dir.boolValue
}
let papers: [String] = ((try? fm.contentsOfDirectory(atPath: root + "/papers")) ?? [])
    .filter { fm.fileExists(atPath: root + "/papers/\($0)/main.swift") }
    .sorted()
/// The library folders of a paper: capitalised subfolders other than Tests.
func paperModules(_ name: String) -> [String] {
    ((try? fm.contentsOfDirectory(atPath: root + "/papers/\(name)")) ?? [])
        .filter { $0.first!.isUppercase && $0 != "Tests" && isDirectory(root + "/papers/\(name)/\($0)") }
        .sorted()
}
// Paper libraries use language mode 5 like TensorCore: kernels hand raw pointers to worker threads.
let paperLibraryTargets: [Target] = papers.flatMap { name in
    paperModules(name).map { module in
        .target(name: module, dependencies: ["Replicate"], path: "papers/\(name)/\(module)",
                swiftSettings: fastMath + [.swiftLanguageMode(.v5)])
    }
}
let paperTestTargets: [Target] = papers.compactMap { name in
    guard let module = paperModules(name).first, isDirectory(root + "/papers/\(name)/Tests") else { return nil }
    return .testTarget(name: module + "Tests", dependencies: [.target(name: module)], path: "papers/\(name)/Tests",
                       swiftSettings: fastMath)
}
let paperTargets: [Target] = papers.map { name in
    .executableTarget(
        name: name, dependencies: ["Replicate"] + paperModules(name).map { .target(name: $0) }, path: "papers/\(name)",
        exclude: (["README.md", "claims.json5", "expected", "reference", "Tests"] + paperModules(name)).filter {
            fm.fileExists(atPath: root + "/papers/\(name)/\($0)")
        },
        swiftSettings: fastMath)
}
let allPaperModules: [Target.Dependency] = papers.flatMap(paperModules).map { .target(name: $0) }

// MARK: - Targets

let package = Package(
    name: "Replicate",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Replicate", targets: ["Replicate"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Plots", targets: ["Plots"]),
        .library(name: "HDF5", targets: ["HDF5"]),
    ] + papers.map { .executable(name: $0, targets: [$0]) },
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        // Single-precision FFTW for the FFT long convolution (TensorCore's causalLongConv).
        .systemLibrary(name: "CFFTW", pkgConfig: "fftw3f", providers: [.apt(["libfftw3-dev"])]),

        // Tensors, kernels and reverse-mode autograd. Language mode 5: the kernels hand raw
        // pointers to worker threads, which Swift 6's Sendable checking rejects wholesale.
        .target(name: "TensorCore", dependencies: ["CBLAS", "CFFTW"],
                swiftSettings: fastMath + [.swiftLanguageMode(.v5)]),
        .target(name: "NN", dependencies: ["TensorCore"], swiftSettings: fastMath),
        .target(name: "Datasets", dependencies: ["TensorCore"]),
        .target(name: "HDF5", dependencies: ["CHDF5"]),
        .target(name: "Plots", dependencies: ["CPNG"]),
        .target(name: "Reporting", dependencies: []),
        .target(name: "Replicate", dependencies: ["TensorCore", "NN", "Datasets", "HDF5", "Plots", "Reporting"],
                swiftSettings: fastMath),
        // `make summary`: runs/index.html over every run folder; reads files only.
        .executableTarget(name: "summary", dependencies: ["Reporting"], path: "Sources/Summary"),
        .executableTarget(name: "bench", dependencies: ["Replicate"] + allPaperModules, path: "bench",
                          exclude: ["peers"], swiftSettings: fastMath),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"], swiftSettings: fastMath),
        .testTarget(name: "NNTests", dependencies: ["NN", "Datasets"], swiftSettings: fastMath),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "ReplicateTests", dependencies: ["Replicate"], swiftSettings: fastMath),
    ] + paperLibraryTargets + paperTestTargets + paperTargets
)
