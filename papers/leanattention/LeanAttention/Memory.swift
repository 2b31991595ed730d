import Foundation
import TensorCore

// The memory side of the CPU measurements: a large random K/V arena and the DRAM read
// bandwidth the kernels are compared with.

/// Fill `count` floats with uniform values in [−1, 1), in parallel; worker w's share comes from
/// a SplitMix64 stream seeded by (seed, w), so the contents depend only on (count, seed,
/// pool.count). (Inlined here: filling 8 GiB through a non-inlinable RNG call took ~30 s.)
public func fillUniform(_ p: UnsafeMutablePointer<Float>, count: Int, seed: UInt64, pool: WorkerPool) {
    let g = pool.count
    pool.run { w in
        let lo = count * w / g, hi = count * (w + 1) / g
        var state = seed &+ UInt64(w + 1) &* 0x9E37_79B9_7F4A_7C15
        var i = lo
        while i < hi {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            // Two floats per 64-bit draw, 24 bits each.
            p[i] = Float(z >> 40) * 0x1p-23 - 1
            if i + 1 < hi { p[i + 1] = Float((z >> 8) & 0xFF_FFFF) * 0x1p-23 - 1 }
            i += 2
        }
    }
}

/// Sustained read bandwidth in bytes/s: `workers` (default all) threads of `pool` each sum a
/// contiguous share of `count` floats with SIMD (8 independent accumulators); best of
/// `repeats`. The sums are returned too, so the reads cannot be optimised away.
public func measureReadBandwidth(_ p: UnsafePointer<Float>, count: Int, pool: WorkerPool, workers: Int? = nil,
                                 repeats: Int = 3) -> (bytesPerSecond: Double, checksum: Float) {
    let g = Swift.min(workers ?? pool.count, pool.count)
    let sums = UnsafeMutablePointer<Float>.allocate(capacity: pool.count)
    defer { sums.deallocate() }
    var best = 0.0
    var checksum: Float = 0
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        pool.run { w in
            guard w < g else { return }
            let lo = (count * w / g) & ~63, hi = w == g - 1 ? count : (count * (w + 1) / g) & ~63
            var a0 = SIMD16<Float>(), a1 = a0, a2 = a0, a3 = a0
            var i = lo
            while i + 64 <= hi {
                a0 += UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
                a1 += UnsafeRawPointer(p + i + 16).loadUnaligned(as: SIMD16<Float>.self)
                a2 += UnsafeRawPointer(p + i + 32).loadUnaligned(as: SIMD16<Float>.self)
                a3 += UnsafeRawPointer(p + i + 48).loadUnaligned(as: SIMD16<Float>.self)
                i += 64
            }
            var s = ((a0 + a1) + (a2 + a3)).sum()
            while i < hi { s += p[i]; i += 1 }
            sums[w] = s
        }
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        best = Swift.max(best, Double(count * 4) / dt)
        checksum = (0..<g).reduce(0) { $0 + sums[$1] }
    }
    return (best, checksum)
}

/// MemAvailable from /proc/meminfo in bytes (nil where unreadable).
public func availableMemoryBytes() -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
    for line in text.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
        let parts = line.split(separator: " ")
        if parts.count >= 2, let kb = Int(parts[1]) { return kb * 1024 }
    }
    return nil
}
