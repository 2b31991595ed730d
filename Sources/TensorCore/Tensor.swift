import Foundation

#if os(Linux)
/// glibc's `mallopt` (declared in malloc.h, which the Glibc module does not export).
@_silgen_name("mallopt") func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif

/// Float32 storage, 64-byte aligned so SIMD loads never straddle cache lines.
/// Reshaped tensors share one buffer; every op writes a fresh one, so buffers are never
/// mutated after an op returns except by the optimizer (parameters) and by `backward` (grads).
public final class Buffer: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, zeroed: Bool = true) {
        _ = Buffer.heapConfigured
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        var raw = LargeBlockCache.take(bytes: bytes)
        if raw == nil {
            guard posix_memalign(&raw, 64, bytes) == 0, raw != nil else {
                fatalError("out of memory allocating \(bytes) bytes")
            }
        }
        pointer = raw!.bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        self.count = count
        TensorMemory.allocated(bytes)
        if zeroed { pointer.initialize(repeating: 0, count: count) }
    }

    deinit {
        let bytes = Swift.max(count, 1) * MemoryLayout<Float>.stride
        TensorMemory.freed(bytes)
        if !LargeBlockCache.keep(UnsafeMutableRawPointer(pointer), bytes: bytes) { free(pointer) }
    }

    /// A training step allocates and frees the same few hundred activation buffers every
    /// iteration. glibc serves blocks ≥ 128 KiB with fresh mmaps, so each step page-faulted and
    /// zeroed them anew (~5% of a step); keeping them on the heap lets malloc reuse them.
    static let heapConfigured: Bool = {
        #if os(Linux)
        _ = glibcMallopt(-3, 32 << 20)    // M_MMAP_THRESHOLD: glibc's maximum; bigger blocks stay mmapped
        _ = glibcMallopt(-1, 256 << 20)   // M_TRIM_THRESHOLD
        #endif
        return true
    }()
}

/// Bytes held by live tensor buffers (activations, gradients, parameters, kernels' scratch),
/// and the most held at once since `resetPeak`: the peak memory of one forward or backward,
/// measured rather than estimated (what the process's resident size cannot tell apart from
/// the allocator's caches).
public enum TensorMemory {
    nonisolated(unsafe) private static var live = 0
    nonisolated(unsafe) private static var peak = 0
    private static let lock = NSLock()

    public static var liveBytes: Int { lock.lock(); defer { lock.unlock() }; return live }
    public static var peakBytes: Int { lock.lock(); defer { lock.unlock() }; return peak }
    /// Starts a new peak from what is live now.
    public static func resetPeak() { lock.lock(); peak = live; lock.unlock() }

    static func allocated(_ bytes: Int) { lock.lock(); live += bytes; if live > peak { peak = live }; lock.unlock() }
    static func freed(_ bytes: Int) { lock.lock(); live -= bytes; lock.unlock() }
}

/// Freed blocks of at least 4 MiB, kept for reuse by exact size. glibc returns blocks ≥ 32 MiB
/// (its largest mmap threshold) to the kernel on free, and trims the heap top when a step's
/// graph is freed, so every training step of a larger model (nanoGPT at C 384, T 256: 25 MB
/// per activation, 75–100 MB per MLP activation and gradient) page-faulted and had the kernel
/// zero them again: ~20% of its step for the ≥ 32 MiB blocks, and another ~4% (the residual
/// adds' fresh gradients) for the 4–32 MiB ones. Bounded: at most `capacity` bytes are held (a
/// quarter of RAM: the full-size step reuses ~6 GB per step on a 24 GB machine; with 3 GB it
/// still spent 10% of its time in page faults); the oldest blocks are released first.
enum LargeBlockCache {
    static let minimumBytes = 4 << 20
    static let capacity = Int(ProcessInfo.processInfo.physicalMemory / 4)
    nonisolated(unsafe) static var blocks: [(bytes: Int, pointer: UnsafeMutableRawPointer)] = []   // oldest first
    nonisolated(unsafe) static var cachedBytes = 0
    static let lock = NSLock()

    static func take(bytes: Int) -> UnsafeMutableRawPointer? {
        if bytes < minimumBytes { return nil }
        lock.lock(); defer { lock.unlock() }
        guard let i = blocks.lastIndex(where: { $0.bytes == bytes }) else { return nil }
        cachedBytes -= bytes
        return blocks.remove(at: i).pointer
    }

    /// Whether the block was kept (otherwise the caller frees it).
    static func keep(_ pointer: UnsafeMutableRawPointer, bytes: Int) -> Bool {
        if bytes < minimumBytes || bytes > capacity { return false }
        lock.lock(); defer { lock.unlock() }
        while cachedBytes + bytes > capacity, !blocks.isEmpty {
            let oldest = blocks.removeFirst()
            cachedBytes -= oldest.bytes
            free(oldest.pointer)
        }
        blocks.append((bytes, pointer))
        cachedBytes += bytes
        return true
    }
}

/// A dense, row-major float32 tensor that records how it was computed, for reverse-mode autograd.
///
/// Tensors are always contiguous: ops that change the layout (transpose, slice) copy.
/// ```swift
/// let w = Tensor.randn([4, 3], std: 0.02, rng: &rng, requiresGrad: true)
/// let loss = (x.matmul(w)).square().sum()
/// loss.backward()          // w.grad now holds dloss/dw
/// ```
public final class Tensor: CustomStringConvertible {
    public let shape: [Int]
    public let count: Int
    public let buffer: Buffer
    /// Accumulated gradient, allocated (zeroed) on first use by `backward`.
    public var grad: Tensor?
    public var requiresGrad: Bool
    /// The op's inputs and its backward rule: reads `self.grad`, adds into the inputs' grads.
    /// The rule receives the output as an argument instead of capturing it, so no cycle forms.
    var inputs: [Tensor] = []
    var backwardRule: ((Tensor) -> Void)?
    public var opName: String = "leaf"

    public init(shape: [Int], buffer: Buffer, requiresGrad: Bool = false) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        let n = shape.reduce(1, *)
        precondition(n == buffer.count, "shape \(shape) holds \(n) elements, buffer has \(buffer.count)")
        self.shape = shape
        self.count = n
        self.buffer = buffer
        self.requiresGrad = requiresGrad
    }

    /// A tensor with the given values (row-major).
    public convenience init(_ values: [Float], shape: [Int], requiresGrad: Bool = false) {
        let n = shape.reduce(1, *)
        precondition(values.count == n, "\(values.count) values do not fill shape \(shape)")
        let buf = Buffer(count: n, zeroed: false)
        values.withUnsafeBufferPointer { buf.pointer.update(from: $0.baseAddress!, count: n) }
        self.init(shape: shape, buffer: buf, requiresGrad: requiresGrad)
    }

    /// An uninitialised tensor, for ops that overwrite every element.
    static func empty(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, buffer: Buffer(count: shape.reduce(1, *), zeroed: false))
    }

    public static func zeros(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        Tensor(shape: shape, buffer: Buffer(count: shape.reduce(1, *)), requiresGrad: requiresGrad)
    }

    public static func full(_ shape: [Int], _ value: Float, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor.empty(shape)
        t.data.update(repeating: value, count: t.count)
        t.requiresGrad = requiresGrad
        return t
    }

    public static func ones(_ shape: [Int], requiresGrad: Bool = false) -> Tensor {
        full(shape, 1, requiresGrad: requiresGrad)
    }

    public static func scalar(_ value: Float) -> Tensor { Tensor([value], shape: []) }

    /// Normal(0, std²) entries drawn from `rng`.
    public static func randn(_ shape: [Int], std: Float = 1, rng: inout RNG, requiresGrad: Bool = false) -> Tensor {
        let t = Tensor.empty(shape)
        rng.fillNormal(t.data, count: t.count, std: std)
        t.requiresGrad = requiresGrad
        return t
    }

    /// Uniform[low, high) entries drawn from `rng`.
    public static func uniform(_ shape: [Int], low: Float = 0, high: Float = 1, rng: inout RNG,
                               requiresGrad: Bool = false) -> Tensor {
        let t = Tensor.empty(shape)
        for i in 0..<t.count { t.data[i] = low + (high - low) * rng.nextFloat() }
        t.requiresGrad = requiresGrad
        return t
    }

    public var data: UnsafeMutablePointer<Float> { buffer.pointer }
    public var rank: Int { shape.count }
    public func toArray() -> [Float] { Array(UnsafeBufferPointer(start: data, count: count)) }

    public func item() -> Float {
        precondition(count == 1, "item() needs a single-element tensor, shape is \(shape)")
        return data[0]
    }

    /// Size of `axis` (negative counts from the end).
    public func size(_ axis: Int) -> Int { shape[normalize(axis: axis, rank: rank)] }

    /// A copy that is not connected to the graph.
    public func detached() -> Tensor {
        let t = Tensor.empty(shape)
        t.data.update(from: data, count: count)
        return t
    }

    /// Overwrite the values in place (parameters, loading checkpoints). Not recorded by autograd.
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "assign: \(values.count) values for shape \(shape)")
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: count) }
    }

    public var description: String {
        let shown = toArray().prefix(8).map { String(format: "%.4g", $0) }.joined(separator: ", ")
        return "Tensor(\(shape), [\(shown)\(count > 8 ? ", ..." : "")])"
    }
}

@inline(__always) func normalize(axis: Int, rank: Int) -> Int {
    let a = axis < 0 ? axis + rank : axis
    precondition(a >= 0 && a < rank, "axis \(axis) out of range for rank \(rank)")
    return a
}

/// Product of the dimensions before, at and after `axis`: ops along one axis see (outer, n, inner).
@inline(__always) func splitShape(_ shape: [Int], at axis: Int) -> (outer: Int, n: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
}
