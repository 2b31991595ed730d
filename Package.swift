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

let root = Context.packageDirectory
let papers: [String] = ((try? FileManager.default.contentsOfDirectory(atPath: root + "/papers")) ?? [])
    .filter { FileManager.default.fileExists(atPath: root + "/papers/\($0)/main.swift") }
    .sorted()
// Libraries a paper needs beyond Replicate.
let paperDependencies: [String: [Target.Dependency]] = ["leanattention": ["LeanAttention"]]
let paperTargets: [Target] = papers.map { name in
    .executableTarget(
        name: name, dependencies: ["Replicate"] + (paperDependencies[name] ?? []), path: "papers/\(name)",
        exclude: ["README.md", "claims.json5", "expected", "reference"].filter {
            FileManager.default.fileExists(atPath: root + "/papers/\(name)/\($0)")
        },
        swiftSettings: fastMath)
}

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
        // LeanAttention's kernels, schedules and GPU model (papers/leanattention); language mode 5
        // for the same reason as TensorCore (raw pointers handed to worker threads).
        .target(name: "LeanAttention", dependencies: ["TensorCore"],
                swiftSettings: fastMath + [.swiftLanguageMode(.v5)]),
        .target(name: "Replicate", dependencies: ["TensorCore", "NN", "Datasets", "HDF5", "Plots", "Reporting"],
                swiftSettings: fastMath),
        .executableTarget(name: "bench", dependencies: ["Replicate"], path: "bench",
                          exclude: ["peers"], swiftSettings: fastMath),

        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore"], swiftSettings: fastMath),
        .testTarget(name: "NNTests", dependencies: ["NN", "Datasets"], swiftSettings: fastMath),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5"]),
        .testTarget(name: "PlotsTests", dependencies: ["Plots"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting"]),
        .testTarget(name: "LeanAttentionTests", dependencies: ["LeanAttention"], swiftSettings: fastMath),
        .testTarget(name: "ReplicateTests", dependencies: ["Replicate"], swiftSettings: fastMath),
    ] + paperTargets
)
