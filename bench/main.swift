// `make bench` (arguments via ARGS="..."): speed of our core against the machine's own limits
// and against PyTorch on the same CPU, measured in the same run. Prints medians and ratios,
// never asserts: timings are noisy on a shared 2-core VM, so each workload alternates ours and
// PyTorch for a few rounds.
//
//   bench [limits] [train] [full] [hilsenbek] [decode] [aaren] [chela] [block] [--quick] [--rounds N] [--threads N]
//         [--no-peer] [--profile] [--contexts 1k,64k,...] [--dims 64,128]
//
// No workload named: all of them (--quick: limits, train and decode, smaller). The machine
// limits are always measured. The PyTorch peers (bench/peers/*.py) run as long-lived
// subprocesses (`--serve`) of $REPLICATE_TORCH_PYTHON or .venv-bench/bin/python
// (`make bench-setup`), with torch.set_num_threads = our thread count; without torch, ours runs
// alone and the output says so.
import Dispatch
import Foundation
import Aaren
import BlockTransformer
import Hilsenbek
import Replicate

func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }

// MARK: - Options

struct Options {
    var workloads: Set<String> = []
    var quick = false
    var rounds: Int?
    var peer = true
    var profile = false
    var contexts: [Int]?
    var dims: [Int]?

    static let all = ["limits", "train", "full", "hilsenbek", "decode", "aaren", "chela", "block"]

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 0
        func value() -> String {
            i += 1
            guard i < args.count else { fail("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func ints(_ s: String) -> [Int] {
            s.split(separator: ",").map { part in
                let t = part.lowercased()
                let (digits, mult) = t.hasSuffix("k") ? (String(t.dropLast()), 1024) : (t, 1)
                guard let n = Int(digits), n > 0 else { fail("not a positive integer: \(part)") }
                return n * mult
            }
        }
        while i < args.count {
            switch args[i] {
            case "limits", "train", "full", "hilsenbek", "decode", "aaren", "chela", "block": o.workloads.insert(args[i])
            case "--full": o.workloads.formUnion(["train", "full"])   // the old flag
            case "--quick": o.quick = true
            case "--no-peer": o.peer = false
            case "--profile": o.profile = true
            case "--rounds": o.rounds = ints(value()).first
            case "--threads": Parallel.setThreads(ints(value()).first!)
            case "--contexts": o.contexts = ints(value())
            case "--dims":
                o.dims = ints(value())
                if let bad = o.dims!.first(where: { $0 % 8 != 0 }) {
                    fail("--dims: the decode kernel takes head dims that are multiples of 8 (8 floats per SIMD lane group), got \(bad)")
                }
            case "-h", "--help":
                print("usage: bench [limits] [train] [full] [hilsenbek] [decode] [aaren] [chela] [block] [--quick] [--rounds N] [--threads N] [--no-peer] [--profile] [--contexts 1k,64k,...] [--dims 64,128]")
                exit(0)
            default: fail("unknown argument \(args[i]) (try --help)")
            }
            i += 1
        }
        if o.workloads.isEmpty { o.workloads = o.quick ? ["limits", "train", "decode"] : Set(all) }
        return o
    }
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("bench: \(message)\n".utf8))
    exit(2)
}

// MARK: - Large buffers

/// Anonymous memory advised for transparent huge pages: first-touch page faults cost about
/// 1 s/GiB on this VM with 2 MiB pages and 2–3 s/GiB with 4 KiB ones. Laid out as glibc's
/// posix_memalign (our `Buffer`) would lay out a large block: one extra page, data 64 bytes in,
/// so two buffers of equal size are not an exact power of two apart. (At exactly 2^28 bytes
/// apart, K and V streams read together lost ~25% bandwidth at d = 64 on this VM: DRAM bank
/// conflicts.) Filled in parallel with a hash of the index, uniform in [−1, 1).
final class BigBuffer {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    private let raw: UnsafeMutableRawPointer
    private let bytes: Int

    init(count: Int, seed: UInt32) {
        self.count = count
        bytes = Swift.max(count, 1) * 4 + 4096
        guard let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              raw != UnsafeMutableRawPointer(bitPattern: -1) else { fail("cannot map \(bytes) bytes") }
        self.raw = raw
        _ = madvise(raw, bytes, 14)   // MADV_HUGEPAGE
        pointer = (raw + 64).bindMemory(to: Float.self, capacity: Swift.max(count, 1))
        let p = pointer
        Parallel.forEachChunk(count, grain: 1 << 20) { r in
            var h = seed &* 0x9E37_79B9 &+ UInt32(truncatingIfNeeded: r.lowerBound)
            for i in r {
                h = h &* 1_664_525 &+ 1_013_904_223
                p[i] = Float(h >> 8) * 0x1p-23 - 1
            }
        }
    }

    deinit { munmap(raw, bytes) }
}

// MARK: - Machine limits

/// fp32 FMA peak of one core: 12 independent 8-lane FMA chains (enough to cover latency × ports).
@inline(never) func fmaKernel(_ iters: Int, _ seed: Float) -> Float {
    var a0 = F8(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3, a4 = a0 + 4, a5 = a0 + 5
    var a6 = a0 + 6, a7 = a0 + 7, a8 = a0 + 8, a9 = a0 + 9, a10 = a0 + 10, a11 = a0 + 11
    let m = F8(repeating: 0.999999), c = F8(repeating: 1e-7)
    for _ in 0..<iters {
        a0 = c.addingProduct(a0, m); a1 = c.addingProduct(a1, m); a2 = c.addingProduct(a2, m)
        a3 = c.addingProduct(a3, m); a4 = c.addingProduct(a4, m); a5 = c.addingProduct(a5, m)
        a6 = c.addingProduct(a6, m); a7 = c.addingProduct(a7, m); a8 = c.addingProduct(a8, m)
        a9 = c.addingProduct(a9, m); a10 = c.addingProduct(a10, m); a11 = c.addingProduct(a11, m)
    }
    return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11).sum()
}

func fmaPeak(threads: Int) -> Double {
    let iters = 20_000_000
    var best = 0.0
    for _ in 0..<3 {
        let t0 = now()
        DispatchQueue.concurrentPerform(iterations: threads) { i in _ = fmaKernel(iters, Float(i)) }
        best = max(best, Double(threads * iters * 12 * 8 * 2) / (now() - t0) / 1e9)
    }
    return best
}

/// Σ p[0..<n] with eight independent 8-lane accumulators: a pure streaming read.
@inline(never) func sumKernel(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var a0 = F8(), a1 = F8(), a2 = F8(), a3 = F8(), a4 = F8(), a5 = F8(), a6 = F8(), a7 = F8()
    var i = 0
    func ld(_ j: Int) -> F8 { UnsafeRawPointer(p + j).loadUnaligned(as: F8.self) }
    while i + 64 <= n {
        a0 += ld(i); a1 += ld(i + 8); a2 += ld(i + 16); a3 += ld(i + 24)
        a4 += ld(i + 32); a5 += ld(i + 40); a6 += ld(i + 48); a7 += ld(i + 56)
        i += 64
    }
    var s = ((a0 + a1) + (a2 + a3) + ((a4 + a5) + (a6 + a7))).sum()
    while i < n { s += p[i]; i += 1 }
    return s
}

/// DRAM read bandwidth (GB/s): a SIMD sum over `bytes` on one thread and on all threads,
/// best and median of several passes.
func dramBandwidth(bytes: Int, passes: Int) -> (one: Double, allBest: Double, allMedian: Double) {
    let buf = BigBuffer(count: bytes / 4, seed: 99)
    let p = buf.pointer, n = buf.count
    var sink: Float = 0
    var one: [Double] = [], all: [Double] = []
    for _ in 0..<passes {
        var t0 = now()
        sink += sumKernel(p, n)
        one.append(Double(bytes) / (now() - t0) / 1e9)
        let chunks = Parallel.chunkCount(n, grain: 1 << 16)
        let parts = UnsafeMutablePointer<Float>.allocate(capacity: chunks)
        t0 = now()
        Parallel.forEachIndexedChunk(n, chunks: chunks) { c, r in parts[c] = sumKernel(p + r.lowerBound, r.count) }
        all.append(Double(bytes) / (now() - t0) / 1e9)
        sink += parts[0]
        parts.deallocate()
    }
    if sink == 12345 { print("") }   // keep the sums alive
    return (one.max()!, all.max()!, median(all))
}

// MARK: - PyTorch peers

struct PeerReply: Decodable {
    var ready: Bool?
    var torch: String?
    var threads: Int?
    var params: Int?
    var times: [Double]?
    var loss: Double?
    var bytes: Int?
    var freed: Bool?
}

/// The directory holding bench/peers: the working directory under `make`, else found from the
/// executable's path (<root>/.build*/release/bench).
func repoRoot() -> String {
    let fm = FileManager.default
    if fm.fileExists(atPath: "bench/peers") { return fm.currentDirectoryPath }
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        if fm.fileExists(atPath: url.path + "/bench/peers") { return url.path }
    }
    return fm.currentDirectoryPath
}

/// The Python that runs the peers, and its torch version, or the reason there is none.
func findTorch(root: String) -> (python: String, version: String)? {
    let env = ProcessInfo.processInfo.environment
    let python = env["REPLICATE_TORCH_PYTHON"] ?? root + "/.venv-bench/bin/python"
    guard FileManager.default.isExecutableFile(atPath: python) else {
        print("PyTorch peer: not available (\(python) not found; run `make bench-setup` or set REPLICATE_TORCH_PYTHON): running ours alone")
        return nil
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["-c", "import torch; print(torch.__version__)"]
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    do { try p.run() } catch {
        print("PyTorch peer: not available (\(python) does not run: \(error)): running ours alone")
        return nil
    }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    guard p.terminationStatus == 0 else {
        print("PyTorch peer: not available (\(python) cannot import torch): running ours alone")
        return nil
    }
    return (python, String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}

/// A peer script in `--serve` mode: one JSON request per line in, one JSON line out.
final class Peer {
    let name: String
    private let process = Process()
    private let input = Pipe(), output = Pipe()
    private let errPath: String
    private var buffer = Data()

    init?(python: String, root: String, script: String, args: [String]) {
        name = script
        errPath = NSTemporaryDirectory() + "bench-peer-\(getpid())-\(script).err"
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [root + "/bench/peers/" + script] + args + ["--threads", "\(Parallel.threads)", "--serve"]
        var env = ProcessInfo.processInfo.environment
        env["THP_MEM_ALLOC_ENABLE"] = "1"          // huge pages for torch's large tensors, as for ours
        env["OMP_NUM_THREADS"] = "\(Parallel.threads)"
        process.environment = env
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle(forWritingAtPath: errPath)
        do { try process.run() } catch {
            print("  PyTorch peer \(script) did not start: \(error)")
            return nil
        }
    }

    /// The next reply, nil if the peer exited (its stderr tail is printed).
    func read() -> PeerReply? {
        while true {
            if let nl = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<nl]
                buffer = Data(buffer[(nl + 1)...])
                if let r = try? JSONDecoder().decode(PeerReply.self, from: Data(line)) { return r }
                continue   // not ours (a stray print): skip
            }
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty {
                let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
                print("  PyTorch peer \(name) exited; stderr tail:\n" + err.split(separator: "\n").suffix(8).map { "    " + $0 }.joined(separator: "\n"))
                return nil
            }
            buffer.append(chunk)
        }
    }

    func send(_ json: String) {
        if process.isRunning { input.fileHandleForWriting.write(Data((json + "\n").utf8)) }
    }

    func request(_ json: String) -> PeerReply? {
        guard process.isRunning else { return nil }
        send(json)
        return read()
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: errPath)
    }
}

/// A one-shot peer script (no `--serve`): runs it to the end with `args` and our thread count,
/// and returns its stdout lines; nil (after saying so) if it did not run or printed nothing.
func runPeerScript(_ torch: (python: String, version: String), root: String, script: String, args: [String]) -> [Substring]? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: torch.python)
    p.arguments = [root + "/bench/peers/" + script] + args + ["--threads", "\(threads)"]
    var env = ProcessInfo.processInfo.environment
    env["OMP_NUM_THREADS"] = "\(threads)"
    env["THP_MEM_ALLOC_ENABLE"] = "1"   // huge pages for torch's large tensors, as for ours (and as `Peer`)
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else {
        print("  PyTorch peer \(script) did not start: ours only")
        return nil
    }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    let lines = text.split(separator: "\n")
    if lines.isEmpty { print("  PyTorch peer \(script) failed: ours only") }
    return lines.isEmpty ? nil : lines
}

// MARK: - Workloads 1 and 2: nanoGPT training step

/// The models a training-step workload runs are Hilsenbek's variants (papers/hilsenbek), nanoGPT
/// among them (`.attention`); the raw value is the PyTorch peer's `--variant`.
final class TrainSession {
    let config: GPTConfig
    let batch: Int
    let variant: Variant
    let model: GPT
    let opt: AdamW
    var rng = RNG(seed: 2)

    init(config: GPTConfig, batch: Int, variant: Variant = .attention) {
        self.config = config
        self.batch = batch
        self.variant = variant
        model = GPT(config, seed: 1, generativeFunction: variant.placement)
        opt = AdamW(model, lr: 1e-3, weightDecay: 0.1, beta2: 0.99)
    }

    /// One step on fresh random tokens (targets = inputs): seconds.
    func step() -> Double {
        let t = config.blockSize
        let x = (0..<(batch * t)).map { _ in Int32(rng.nextInt(below: config.vocabSize)) }
        let t0 = now()
        OpProfile.lap("(between steps)")
        let loss = model.loss(x, targets: x, batch: batch, time: t)
        model.zeroGrad()
        OpProfile.lap("zeroGrad")
        loss.backward()
        OpProfile.lap("(backward glue)")
        _ = clipGradNorm(model.parameters(), maxNorm: 1)
        OpProfile.lap("clipGradNorm")
        opt.update()
        OpProfile.lap("AdamW")
        return now() - t0
    }

    /// nanoGPT's estimate_mfu: 6N + 12·L·H·Q·T FLOPs per token, N without wpe; the attention
    /// term is dropped when attention is (the min variant), as it then does no such work.
    var flopsPerStep: Double {
        let n = Double(model.nonEmbeddingParameterCount)
        let attention = variant.attends ? 12 * Double(config.nLayer * config.nHead * (config.nEmbd / config.nHead) * config.blockSize) : 0
        let perToken = 6 * n + attention
        return perToken * Double(batch * config.blockSize)
    }
}

func benchTrain(title: String, config: GPTConfig, batch: Int, variant: Variant = .attention, warmup: Int, steps: Int,
                rounds: Int, torch: (python: String, version: String)?, root: String, peakAll: Double, profile: Bool) {
    let session = TrainSession(config: config, batch: batch, variant: variant)
    let flops = session.flopsPerStep, tokens = Double(batch * config.blockSize)
    print("\n\(title) (L\(config.nLayer) H\(config.nHead) C\(config.nEmbd), T\(config.blockSize), B\(batch), vocab \(config.vocabSize);"
          + " \(f(Double(session.model.parameterCount) / 1e6, 2))M params, \(f(Double(session.model.nonEmbeddingParameterCount) / 1e6, 2))M non-embedding)")
    let estimate = variant.attends ? "6N + 12·L·H·Q·T per token" : "6N per token (no attention term: attention is replaced)"
    print("  FLOPs/step by nanoGPT's estimate \(estimate) (N = params without wpe): \(f(flops / 1e9, 2)) GFLOP")
    print("  forward + backward + clip 1.0 + AdamW; \(warmup) warm-up step(s) each, then \(rounds) rounds of \(steps) step(s): ours, then PyTorch")
    let peer = torch.flatMap {
        Peer(python: $0.python, root: root, script: "train_gpt.py",
             args: ["--vocab", "\(config.vocabSize)", "--block", "\(config.blockSize)", "--n-layer", "\(config.nLayer)",
                    "--n-head", "\(config.nHead)", "--n-embd", "\(config.nEmbd)", "--batch", "\(batch)", "--warmup", "\(warmup)",
                    "--variant", variant.rawValue])
    }
    for _ in 0..<warmup { _ = session.step() }
    var peerAlive = peer != nil
    if let peer {
        if let r = peer.read(), r.ready == true {
            if let p = r.params, p != session.model.parameterCount {
                print("  note: PyTorch model has \(p) parameters, ours \(session.model.parameterCount)")
            }
        } else { peerAlive = false }
    }
    var ours: [Double] = [], theirs: [Double] = []
    for _ in 0..<rounds {
        for _ in 0..<steps { ours.append(session.step()) }
        if peerAlive, let peer {
            if let t = peer.request("{\"steps\": \(steps)}")?.times { theirs += t } else { peerAlive = false }
        }
    }
    func row(_ name: String, _ times: [Double]) -> Double {
        let s = median(times), g = flops / s / 1e9
        print("  \(name.padding(toLength: 12, withPad: " ", startingAt: 0))\(pad(f(s * 1000), 10))\(pad(f(tokens / s, 0), 11))\(pad(f(g), 10))\(pad(f(100 * g / peakAll, 0) + "%", 9))"
              + "   (min \(f(times.min()! * 1000)), max \(f(times.max()! * 1000)) ms, \(times.count) steps)")
        return s
    }
    print("                 ms/step   tokens/s   GFLOP/s  of peak")
    let a = row("ours", ours)
    if !theirs.isEmpty {
        let b = row("PyTorch", theirs)
        print("  time ratio ours/PyTorch: \(f(a / b, 2))×" + (a < b ? "  (ours \(f(b / a, 2))× faster)" : "  (PyTorch \(f(a / b, 2))× faster)"))
    } else if torch != nil {
        print("  PyTorch peer failed: ours only")
    }
    if profile { printProfile(session, steps: steps * rounds) }
}

/// Wall time per op over `steps` more steps of ours (forward ops: time since the previous op).
func printProfile(_ session: TrainSession, steps: Int) {
    OpProfile.isEnabled = true
    OpProfile.reset()
    var total = 0.0
    for _ in 0..<steps { total += session.step() }
    OpProfile.isEnabled = false
    print("  profile over \(steps) more steps of ours (\(f(total / Double(steps) * 1000)) ms/step; ∂op = its backward rule):")
    for e in OpProfile.entries where e.name != "(between steps)" && e.seconds / total >= 0.002 {
        print("    \(e.name.padding(toLength: 22, withPad: " ", startingAt: 0))\(pad(f(e.seconds / Double(steps) * 1000, 2), 7)) ms  \(pad(f(100 * e.seconds / total, 1), 5))%  \(pad("\(e.calls / steps)", 4))×/step")
    }
}

// MARK: - Workload 3: single-query decode attention

/// Times `body` after one warm-up call, until at least `minReps` calls and `minTime` seconds.
func timeReps(minReps: Int = 3, minTime: Double = 0.25, _ body: () -> Void) -> [Double] {
    body()
    var times: [Double] = []
    let start = now()
    while times.count < 200 && (times.count < minReps || now() - start < minTime) {
        let t = now()
        body()
        times.append(now() - t)
    }
    return times
}

func benchDecode(dims: [Int], contexts requested: [Int], rounds: Int, torch: (python: String, version: String)?, root: String,
                 dram: (best: Double, median: Double)) {
    let heads = 16, threads = Parallel.threads
    // K and V of the largest context are held once by us and once by the peer: keep them within
    // 70% of RAM (512k at d 128 takes 8 GiB per side, 16 GiB in all), rather than be OOM-killed.
    let ram = Double(ProcessInfo.processInfo.physicalMemory), sides = torch == nil ? 1.0 : 2.0
    func bytesPerSide(_ n: Int) -> Double { Double(2 * heads * n * dims.max()! * 4) }
    let contexts = requested.filter { sides * bytesPerSide($0) <= 0.7 * ram }
    if contexts.count < requested.count {
        let skipped = requested.filter { !contexts.contains($0) }
        print("\nDecode attention: skipping contexts \(skipped.map(String.init).joined(separator: ", ")): their K+V (\(f(bytesPerSide(skipped.min()!) / 1_073_741_824, 1))+ GiB"
              + " per side, \(Int(sides)) side(s)) would not fit in 70% of this machine's \(f(ram / 1_073_741_824, 1)) GiB of RAM")
    }
    if contexts.isEmpty { return }
    let threadsText = threads == 1 ? "1 thread" : "\(threads) threads"
    print("\nSingle-query decode attention (B1 H\(heads), float32, out = softmax(q·Kᵀ/√d)·V): median ms per call")
    print("  ours: decodeAttention (Sources/TensorCore/Kernels/DecodeAttention.swift) on \(threadsText); PyTorch: F.scaled_dot_product_attention")
    print("  GB/s = K+V bytes / median time; %DRAM compares like with like: the fastest call with the DRAM probe's best pass")
    print("  (\(f(dram.best)) GB/s above), and the median call with its median pass (\(f(dram.median)) GB/s: \"med\"). \(rounds) rounds of ours,")
    print("  then a plain \(threads)-thread SIMD sum over the same K+V bytes (\"read\": the read speed at that moment, on a shared")
    print("  machine), then PyTorch")
    print("  (K+V of a few tens of MiB stays partly in the 32 MiB L3 between calls, so it can beat DRAM speed)")
    let maxElems = heads * contexts.max()! * dims.max()!
    let peer = torch.flatMap { Peer(python: $0.python, root: root, script: "decode_attention.py", args: ["--heads", "\(heads)"]) }
    var peerAlive = peer?.read()?.ready == true
    if peer != nil && !peerAlive { print("  PyTorch peer failed to start: ours only") }
    // One K and one V of the largest size, filled once; each (d, N) uses a prefix, which is the
    // contiguous (1, H, N, d) layout. The peer does the same with one torch storage, filling it
    // while we fill ours.
    let t0 = now()
    if peerAlive, let peer { peer.send("{\"reserve\": \(maxElems)}") }
    let kBuf = BigBuffer(count: maxElems, seed: 1), vBuf = BigBuffer(count: maxElems, seed: 2)
    let qBuf = BigBuffer(count: heads * dims.max()!, seed: 3)
    let out = UnsafeMutablePointer<Float>.allocate(capacity: heads * dims.max()!)
    defer { out.deallocate() }
    if peerAlive, let peer { peerAlive = peer.read()?.ready == true }
    print("  (allocated and filled \(f(Double(2 * maxElems * 4) / 1_073_741_824, 1)) GiB of K+V per side in \(f(now() - t0)) s)")
    print("     d        N  K+V MiB |  ours ms    GB/s  %DRAM    med | torch ms    GB/s  %DRAM    med | ours/torch | read GB/s  ours/read")
    let parts = UnsafeMutablePointer<Float>.allocate(capacity: 2 * threads)
    defer { parts.deallocate() }
    var sink: Float = 0
    for d in dims {
        for n in contexts {
            let elems = heads * n * d, bytes = Double(2 * elems * 4)
            let scale = 1 / Float(d).squareRoot()
            let workers = decodeAttentionWorkers(rows: heads, length: n, dim: d, threads: threads)
            var ours: [Double] = [], theirs: [Double] = [], reads: [Double] = []
            for _ in 0..<rounds {
                ours += timeReps {
                    decodeAttention(q: qBuf.pointer, k: kBuf.pointer, v: vBuf.pointer, out: out, rows: heads, length: n, dim: d,
                                    scale: scale, workers: workers, threads: threads)
                }
                reads += timeReps {
                    let (k, v) = (kBuf.pointer, vBuf.pointer)
                    Parallel.forEachIndexedChunk(elems, chunks: Parallel.chunkCount(elems, grain: 1 << 14)) { c, r in
                        parts[c] = sumKernel(k + r.lowerBound, r.count) + sumKernel(v + r.lowerBound, r.count)
                    }
                    sink += parts[0]
                }
                if peerAlive, let peer {
                    if let t = peer.request("{\"d\": \(d), \"n\": \(n), \"reps\": 3, \"min_time\": 0.25}")?.times {
                        theirs += t
                    } else { peerAlive = false }
                }
            }
            let a = median(ours), ga = bytes / a / 1e9, gr = bytes / median(reads) / 1e9
            // "%DRAM  med": the best call vs the best probe pass, the median vs the median.
            func ofDRAM(_ times: [Double]) -> String {
                pad(f(100 * bytes / times.min()! / 1e9 / dram.best, 0) + "%", 6) + pad(f(100 * bytes / median(times) / 1e9 / dram.median, 0) + "%", 7)
            }
            var line = "  \(pad("\(d)", 4)) \(pad("\(n)", 8)) \(pad(f(bytes / 1_048_576, 0), 8)) | \(pad(f(a * 1000, 2), 8)) \(pad(f(ga), 7)) \(ofDRAM(ours))"
            if !theirs.isEmpty {
                let b = median(theirs), gb = bytes / b / 1e9
                line += " | \(pad(f(b * 1000, 2), 8)) \(pad(f(gb), 7)) \(ofDRAM(theirs)) | \(pad(f(a / b, 2), 9))×"
            } else {
                line += " |        —       —      —      — |          —"
            }
            print(line + " | \(pad(f(gr), 9)) \(pad(f(100 * ga / gr, 0) + "%", 10))")
        }
    }
    if sink == 12345 { print("") }   // keep the sums alive
}

// MARK: - Workload 5: Aaren's prefix scan (papers/aaren)

struct PrefixPeerReply: Decodable { let n: Int; let times: [Double] }

/// The scan forward + backward on (R = 8 rows, N, d = 64) against the same operator in torch ops,
/// then the time of one streamed token: Aaren's O(1) update against our KV-cached Transformer
/// layer at context N (d_model 512, d_ff 2048, 8 heads).
func benchAaren(lengths: [Int], rounds: Int, torch: (python: String, version: String)?, root: String, dramBest: Double) {
    let rows = 8, d = 64
    print("\nAaren prefix scan: o_k = Σ_{i≤k} softmax(s_0..k)_i v_i on R\(rows) × N × d\(d), float32, forward + backward: median ms")
    print("  ours: prefixAttention (papers/aaren/Aaren/Scan.swift, chunked scan on \(threadsText)); PyTorch: exp(s − max)·v, cumsum, divide, autograd")
    print("  GB/s counts the bytes each pass must move (fwd: s, v in, o, m, u out; bwd: g, o, s, v, m, u in, ds, dv out); %DRAM against \(f(dramBest)) GB/s")
    var peer: [Int: [Double]] = [:]
    if let torch, let lines = runPeerScript(torch, root: root, script: "prefix_attention.py",
                                             args: ["--rows", "\(rows)", "--d", "\(d)", "--n"] + lengths.map(String.init)) {
        for line in lines {
            if let r = try? JSONDecoder().decode(PrefixPeerReply.self, from: Data(line.utf8)) { peer[r.n] = r.times }
        }
        if peer.isEmpty { print("  PyTorch peer prefix_attention.py failed: ours only") }
    }
    print("         N |  ours ms    GB/s  %DRAM | torch ms | ours/torch")
    var rng = RNG(seed: 1)
    for n in lengths {
        let s = Tensor((0..<(rows * n)).map { _ in rng.nextNormal() }, shape: [rows, n], requiresGrad: true)
        let v = Tensor((0..<(rows * n * d)).map { _ in 2 * rng.nextFloat() - 1 }, shape: [rows, n, d], requiresGrad: true)
        let g = (0..<(rows * n * d)).map { _ in 2 * rng.nextFloat() - 1 }
        var times: [Double] = []
        for _ in 0..<rounds {
            times += timeReps(minReps: 3, minTime: 0.3) {
                s.zeroGrad(); v.zeroGrad()
                prefixAttention(scores: s, values: v).backward(seed: g)
            }
        }
        let a = median(times)
        let bytes = Double(rows * n) * Double((2 * d + 3) + (4 * d + 4) + (d + 1)) * 4
        var line = "  \(pad("\(n)", 8)) | \(pad(f(a * 1000, 2), 8)) \(pad(f(bytes / a / 1e9), 7)) \(pad(f(100 * bytes / a / 1e9 / dramBest, 0) + "%", 6))"
        if let theirs = peer[n] {
            let b = median(theirs)
            line += " | \(pad(f(b * 1000, 2), 8)) | \(pad(f(a / b, 2), 9))×"
        } else { line += " |        — |          —" }
        print(line)
    }
    // One streamed token at context N: Aaren's state update against a KV-cached Transformer layer.
    let c = 512
    var lrng = RNG(seed: 2)
    let aaren = AarenStream(AarenLayer(dModel: c, heads: 8, ffWidth: 2048, rng: &lrng))
    let layer = TransformerLayer(dModel: c, heads: 8, ffWidth: 2048, rng: &lrng)
    let x = Tensor((0..<c).map { _ in lrng.nextNormal() }, shape: [1, 1, c])
    print("\nAaren streaming: time of one more token at context N (d_model \(c), d_ff 2048, 8 heads, batch 1): median ms")
    print("         N |  Aaren ms | Transformer+KV ms | KV MiB read | Transformer/Aaren")
    for n in lengths {
        let t = TransformerStream(layer, capacity: n + 64)
        t.prefill(n, rng: &lrng)
        let ta = median(timeReps(minReps: 10, minTime: 0.2) { _ = aaren.step(x) })
        var tt: [Double] = []
        for _ in 0..<8 { let t0 = now(); _ = t.step(x); tt.append(now() - t0) }
        print("  \(pad("\(n)", 8)) | \(pad(f(ta * 1000, 3), 9)) | \(pad(f(median(tt) * 1000, 3), 17)) | \(pad(f(Double(t.stateBytes) / 1_048_576, 0), 11)) | \(pad(f(median(tt) / ta, 1), 16))×")
    }
}

// MARK: - Workload 6: CHELA's long-sequence ops (papers/chela)

struct ChelaPeerReply: Decodable { let op: String; let n: Int; let fwd: [Double]; let fwdbwd: [Double] }
struct ChelaCheckReply: Decodable { let check: Int; let attention_chunked_vs_quadratic: Double; let conv_fft_vs_direct: Double }

/// Input j of the agreement check, as bench/peers/chela.py writes it: value i is
/// sin(0.7548776662466927·i + j) in Double, rounded to Float.
func chelaCheckInput(_ shape: [Int], _ j: Int) -> [Float] {
    (0..<shape.reduce(1, *)).map { Float(sin(Double($0) * 0.7548776662466927 + Double(j))) }
}

/// Ours and the peer on the same closed-form inputs at a ragged L (not a multiple of the chunk):
/// max |ours − torch| / max |torch| per output and gradient, and the peer's own formulations
/// against the direct ones (chunked vs quadratic attention, FFT vs direct conv1d).
func chelaCheck(length l: Int, torch: (python: String, version: String), root: String) {
    let path = NSTemporaryDirectory() + "bench-chela-\(getpid()).f32"
    defer { try? FileManager.default.removeItem(atPath: path) }
    guard let lines = runPeerScript(torch, root: root, script: "chela.py", args: ["--check", path, "--n", "\(l)"]),
          let reply = lines.lazy.compactMap({ try? JSONDecoder().decode(ChelaCheckReply.self, from: Data($0.utf8)) }).first,
          let data = FileManager.default.contents(atPath: path) else {
        print("  agreement check: the peer gave no result")
        return
    }
    let theirs: [Float] = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    var offset = 0
    func compare(_ t: Tensor) -> String {
        guard offset + t.count <= theirs.count else { return "—" }
        var diff: Float = 0, mag: Float = 0
        for i in 0..<t.count {
            diff = max(diff, abs(t.data[i] - theirs[offset + i]))
            mag = max(mag, abs(theirs[offset + i]))
        }
        offset += t.count
        return String(format: "%.1e", Double(diff / mag))
    }
    let b = 2, d = 64, c = 16
    let q = Tensor(chelaCheckInput([b, l, d], 0), shape: [b, l, d], requiresGrad: true)
    let k = Tensor(chelaCheckInput([b, l, d], 1), shape: [b, l, d], requiresGrad: true)
    let v = Tensor(chelaCheckInput([b, l, d], 2), shape: [b, l, d], requiresGrad: true)
    let o = causalLinearAttention(q: q, k: k, v: v, chunkSize: 64)
    o.backward(seed: chelaCheckInput([b, l, d], 3))
    let attention = [o, q.grad!, k.grad!, v.grad!].map(compare)
    let x = Tensor(chelaCheckInput([b, l, c], 4), shape: [b, l, c], requiresGrad: true)
    let kernel = Tensor(chelaCheckInput([c, l], 5), shape: [c, l], requiresGrad: true)
    let y = causalLongConv(x, kernel: kernel)
    y.backward(seed: chelaCheckInput([b, l, c], 6))
    let conv = [y, x.grad!, kernel.grad!].map(compare)
    print("  agreement at L \(reply.check) (ragged against chunk 64; B\(b), sin-formula inputs fed to both), max |ours − torch| / max |torch|:")
    print("    linear attention d\(d): o \(attention[0]), dq \(attention[1]), dk \(attention[2]), dv \(attention[3]);"
          + " long conv D\(c): y \(conv[0]), dx \(conv[1]), dkernel \(conv[2])")
    print("    the peer's own forms: chunked vs quadratic (q @ k.mT).tril() @ v \(String(format: "%.1e", reply.attention_chunked_vs_quadratic)),"
          + " FFT vs direct conv1d \(String(format: "%.1e", reply.conv_fft_vs_direct))")
}

/// CHELA's two long-sequence ops at one layer's shapes (d_model 512): chunked causal linear
/// attention on 8 heads of d 64 (batch 1, heads folded into B), and the FFT causal long conv on
/// 512 channels, each forward alone and forward + backward, against the same math in torch ops.
func benchChela(lengths: [Int], rounds: Int, torch: (python: String, version: String)?, root: String,
                peakAll: Double, dramBest: Double) {
    let heads = 8, d = 64, dv = 64, chunk = 64, channels = 512
    print("\nCHELA ops at one layer of d_model \(heads * d), batch 1, float32: median ms (fwd = forward alone; fwd+bwd with a fixed random output gradient)")
    if let torch { chelaCheck(length: 1000, torch: torch, root: root) }

    // Linear attention: FLOPs per token per row, each product of the chunked algorithm counted once.
    let (cc, dd, vv) = (Double(chunk), Double(d), Double(dv))
    let fwdFlops = 2 * cc * dd + (cc + 1) * vv + 4 * dd * vv
    let bwdFlops = 2 * cc * dd + 2 * cc * vv + (cc + 1) * (2 * dd + vv) + 10 * dd * vv
    print("\n  causal linear attention tril(QKᵀ)V, B·H = 1·\(heads) rows × L × d\(d), dv \(dv), chunk C = \(chunk)")
    print("  ours: causalLinearAttention (Sources/TensorCore/Ops/LinearAttention.swift) on \(threadsText); PyTorch: the chunked form in batched")
    print("  matmuls (tril(q_i k_iᵀ) v_i + q_i·S, S an exclusive cumsum of k_jᵀ v_j over chunks), autograd")
    print("  FLOPs per token per row: fwd 2Cd (Q_iK_iᵀ) + (C+1)dv (tril(A)V_i) + 4d·dv (Q_iS, K_iᵀV_i) = \(f(fwdFlops / 1000))k;")
    print("  bwd 2Cd (A again) + 2C·dv (dO_iV_iᵀ) + (C+1)(2d+dv) (three triangular products) + 10d·dv (five state products) = \(f(bwdFlops / 1000))k;")
    print("  %peak against \(f(peakAll)) GFLOP/s")
    var attentionPeer: [Int: ChelaPeerReply] = [:], convPeer: [Int: ChelaPeerReply] = [:]
    let minTime = String(0.3 * Double(rounds))   // about as many samples as ours takes over its rounds
    if let torch, let lines = runPeerScript(torch, root: root, script: "chela.py",
                                             args: ["--op", "attention", "--batch", "\(heads)", "--d", "\(d)", "--dv", "\(dv)", "--chunk", "\(chunk)",
                                                    "--min-time", minTime, "--n"] + lengths.map(String.init)) {
        for line in lines {
            if let r = try? JSONDecoder().decode(ChelaPeerReply.self, from: Data(line.utf8)) { attentionPeer[r.n] = r }
        }
    }
    /// One table row: ours and theirs for one (L, pass): the rate of `work[0].amount` (FLOPs or
    /// bytes) per call in G/s, then each work's fraction of its limit.
    func row(_ n: Int, _ pass: String, ours: [Double], theirs: [Double]?, work: [(amount: Double, limit: Double)]) {
        func cells(_ t: Double) -> String {
            " | \(pad(f(t * 1000, 2), 9)) \(pad(f(work[0].amount / t / 1e9), 7))" + work.map { pad(f(100 * $0.amount / t / 1e9 / $0.limit, 0) + "%", 7) }.joined()
        }
        let a = median(ours)
        var line = "  \(pad("\(n)", 8))  \(pass.padding(toLength: 7, withPad: " ", startingAt: 0))" + cells(a)
        if let theirs, !theirs.isEmpty {
            let b = median(theirs)
            line += cells(b) + " | \(pad(f(a / b, 2), 9))×"
        } else { line += " |         —       —" + String(repeating: "      —", count: work.count) + " |          —" }
        print(line)
    }
    print("         L  pass    |   ours ms GFLOP/s   %peak |  torch ms GFLOP/s   %peak | ours/torch")
    var rng = RNG(seed: 1)
    func uniform(_ count: Int, _ scale: Float = 1) -> [Float] { (0..<count).map { _ in (2 * rng.nextFloat() - 1) * scale } }
    for n in lengths {
        let s = 1 / Float(d).squareRoot()
        let q = Tensor(uniform(heads * n * d, s), shape: [heads, n, d], requiresGrad: true)
        let k = Tensor(uniform(heads * n * d, s), shape: [heads, n, d], requiresGrad: true)
        let v = Tensor(uniform(heads * n * dv), shape: [heads, n, dv], requiresGrad: true)
        let g = uniform(heads * n * dv)
        var fwd: [Double] = [], both: [Double] = []
        for _ in 0..<rounds {
            fwd += timeReps(minReps: 3, minTime: 0.3) { _ = causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk) }
            both += timeReps(minReps: 3, minTime: 0.3) {
                q.zeroGrad(); k.zeroGrad(); v.zeroGrad()
                causalLinearAttention(q: q, k: k, v: v, chunkSize: chunk).backward(seed: g)
            }
        }
        let rows = Double(heads * n)
        row(n, "fwd", ours: fwd, theirs: attentionPeer[n]?.fwd, work: [(rows * fwdFlops, peakAll)])
        row(n, "fwd+bwd", ours: both, theirs: attentionPeer[n]?.fwdbwd, work: [(rows * (fwdFlops + bwdFlops), peakAll)])
    }

    // Long conv: the bytes a pass must move at least (float32).
    print("\n  causal long conv y[t] = Σ_{s≤t} kernel[s]·x[t − s] per channel, B1 × L × D\(channels), kernel (D, L)")
    print("  ours: causalLongConv (Sources/TensorCore/Ops/CausalConv.swift, FFTW) on \(threadsText); PyTorch: irfft(rfft(u, 2L)·rfft(kernel, 2L))[..., :L]")
    print("  on u = x.transpose(1, 2), autograd. GB/s counts the bytes each pass must move: fwd 4·(2·B·L·D + D·L) (x, kernel in; y out),")
    print("  fwd+bwd 4·(5·B·L·D + 3·D·L) (and dy, x, kernel in; dx, dkernel out); %DRAM against \(f(dramBest)) GB/s;")
    print("  %FFT: the FFTs' arithmetic, 2.5·N·log₂N per real FFT of N = 2L, 3 per channel (fwd) or 8 (fwd+bwd), against \(f(peakAll)) GFLOP/s")
    if let torch, let lines = runPeerScript(torch, root: root, script: "chela.py",
                                             args: ["--op", "conv", "--batch", "1", "--channels", "\(channels)", "--min-time", minTime, "--n"] + lengths.map(String.init)) {
        for line in lines {
            if let r = try? JSONDecoder().decode(ChelaPeerReply.self, from: Data(line.utf8)) { convPeer[r.n] = r }
        }
    }
    print("         L  pass    |   ours ms    GB/s  %DRAM   %FFT |  torch ms    GB/s  %DRAM   %FFT | ours/torch")
    for n in lengths {
        let x = Tensor(uniform(n * channels), shape: [1, n, channels], requiresGrad: true)
        let kernel = Tensor(uniform(channels * n, 1 / Float(n)), shape: [channels, n], requiresGrad: true)
        let g = uniform(n * channels)
        var fwd: [Double] = [], both: [Double] = []
        for _ in 0..<rounds {
            fwd += timeReps(minReps: 3, minTime: 0.3) { _ = causalLongConv(x, kernel: kernel) }
            both += timeReps(minReps: 3, minTime: 0.3) {
                x.zeroGrad(); kernel.zeroGrad()
                causalLongConv(x, kernel: kernel).backward(seed: g)
            }
        }
        let ld = Double(n * channels), fft = 2.5 * Double(2 * n) * log2(Double(2 * n)) * Double(channels)
        row(n, "fwd", ours: fwd, theirs: convPeer[n]?.fwd, work: [(4 * 3 * ld, dramBest), (3 * fft, peakAll)])
        row(n, "fwd+bwd", ours: both, theirs: convPeer[n]?.fwdbwd, work: [(4 * 8 * ld, dramBest), (8 * fft, peakAll)])
    }
    if torch != nil && (attentionPeer.isEmpty || convPeer.isEmpty) { print("  (a PyTorch peer gave no timings: those rows are ours only)") }
}

// MARK: - Workload 7: Block Transformer decoding (papers/blocktransformer)

struct BlockPeerReply: Decodable { let model: String; let batch: Int; let seconds: [Double]; let cache_bytes: Int }

/// Greedy generation, decode-heavy (prompt context/16, the rest generated), of the paper's
/// equal-parameter pair (vanilla 4 × 128 against 2 + 2 × 128, L_B 4, prefix 2), untrained (speed
/// does not depend on the weights), ours against the same models with KV caches in PyTorch.
func benchBlockDecode(batch: Int, context: Int, rounds: Int, torch: (python: String, version: String)?, root: String, dramBest: Double) {
    let prompt = context / 16, generated = context - prompt, vocab = 65
    var c = BlockConfig()
    c.nEmbd = 128; c.nHead = 4; c.blockLayers = 2; c.tokenLayers = 2; c.maxContext = context
    let vanilla = GPT(GPTConfig(vocabSize: vocab, blockSize: context, nLayer: 4, nHead: 4, nEmbd: 128), seed: 1)
    let block = BlockTransformer(c, vocabSize: vocab, seed: 1)
    print("\nBlock Transformer decoding: batch \(batch), prompt \(prompt) + \(generated) generated, greedy, float32, generated tokens/s (prefill included)")
    print("  ours: papers/blocktransformer (GPT.prefill/step with KVCache; the block model's generate) on \(threadsText); PyTorch: the same models and caches, F.scaled_dot_product_attention (bench/peers/block_decode.py)")
    print("  KV read/token: keys and values one generated token reads across the batch (notes §4); GB/s and %DRAM: that traffic at the measured rate, against \(f(dramBest)) GB/s")
    var peer: [String: [Double]] = [:]
    if let torch, let lines = runPeerScript(torch, root: root, script: "block_decode.py",
                                             args: ["--vocab", "\(vocab)", "--width", "128", "--heads", "4", "--layers", "4", "--block-layers", "2",
                                                    "--token-layers", "2", "--block-length", "4", "--prefix", "2", "--batch", "\(batch)",
                                                    "--prompt", "\(prompt)", "--generate", "\(generated)", "--repeats", "\(rounds)"]) {
        for line in lines {
            if let r = try? JSONDecoder().decode(BlockPeerReply.self, from: Data(line.utf8)) { peer[r.model] = r.seconds }
        }
        if peer.isEmpty { print("  PyTorch peer block_decode.py failed: ours only") }
    }
    var rng = RNG(seed: 3)
    let prompts = (0..<(batch * prompt)).map { _ in Int32(rng.nextInt(below: vocab)) }
    _ = generate(vanilla, prompts: Array(prompts.prefix(8)), batch: 1, count: 8)   // first-touch warm-up
    let reads = kvBytesReadPerToken(vanillaLayers: 4, c, prompt: prompt, generated: generated)
    print("  model   |  ours tok/s  KV read/token MB    GB/s  %DRAM | torch tok/s | ours/torch (tok/s)")
    var ours: [String: Double] = [:]
    for (name, bytes) in [("vanilla", reads.vanilla), ("block", reads.block)] {
        var times: [Double] = []
        for _ in 0..<rounds {
            let g = name == "vanilla" ? generate(vanilla, prompts: prompts, batch: batch, count: generated)
                                      : block.generate(prompts: prompts, batch: batch, count: generated)
            times.append(g.totalSeconds)
        }
        let rate = Double(batch * generated) / median(times)
        ours[name] = rate
        let perToken = bytes * Double(batch), gbs = perToken * rate / Double(batch) / 1e9
        var line = "  \(name.padding(toLength: 7, withPad: " ", startingAt: 0)) | \(pad(f(rate, 0), 11)) \(pad(f(perToken / 1e6, 2), 17)) \(pad(f(gbs), 7)) \(pad(f(100 * gbs / dramBest, 0) + "%", 6))"
        if let theirs = peer[name] {
            let r = Double(batch * generated) / median(theirs)
            line += " | \(pad(f(r, 0), 11)) | \(pad(f(rate / r, 2), 17))×"
        } else { line += " |           — |                 —" }
        print(line)
    }
    if let v = ours["vanilla"], let b = ours["block"] {
        var line = "  block/vanilla: ours \(f(b / v, 2))×"
        if let pv = peer["vanilla"], let pb = peer["block"] { line += ", PyTorch \(f(median(pv) / median(pb), 2))×" }
        print(line)
    }
}

// MARK: - Main

let options = Options.parse(Array(CommandLine.arguments.dropFirst()))
let threads = Parallel.threads
let threadsText = threads == 1 ? "1 thread" : "\(threads) threads"
let root = repoRoot()
let started = now()
print("Replicate benchmark — \(Provenance.current(seeds: [], threads: threads, root: root).cpu), \(threads) threads, \(ISO8601DateFormatter().string(from: Date()))")
let torch = options.peer ? findTorch(root: root) : nil
if let torch { print("PyTorch peer: torch \(torch.version) (\(torch.python)), torch.set_num_threads(\(threads)), float32") }
else if !options.peer { print("PyTorch peer: disabled (--no-peer): running ours alone") }

print("\nMachine limits")
let peak1 = fmaPeak(threads: 1), peakAll = fmaPeak(threads: threads)
print("  fp32 FMA peak (12 independent 8-lane FMA chains): \(f(peak1)) GFLOP/s on 1 core, \(f(peakAll)) GFLOP/s on \(threadsText)")
let dram = dramBandwidth(bytes: 1 << 30, passes: options.quick ? 4 : 7)
print("  DRAM read (SIMD sum over 1 GiB): \(f(dram.one)) GB/s on 1 thread, \(f(dram.allBest)) GB/s on \(threadsText) (best; median \(f(dram.allMedian)))")

let w = options.workloads
if w.contains("train") {
    benchTrain(title: "nanoGPT baby training step", config: GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128),
               batch: 12, warmup: 3, steps: options.quick ? 5 : 10, rounds: options.rounds ?? (options.quick ? 2 : 3),
               torch: torch, root: root, peakAll: peakAll, profile: options.profile)
}
if w.contains("full") {
    benchTrain(title: "nanoGPT shakespeare_char training step", config: GPTConfig(vocabSize: 65, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384),
               batch: 64, warmup: 1, steps: 1, rounds: options.rounds ?? 2, torch: torch, root: root, peakAll: peakAll, profile: options.profile)
}
if w.contains("hilsenbek") {
    // Workload 4 for papers/hilsenbek: its 21 trainings are its run time; the kernel it adds is
    // the causal min along time, in place of attention (variant 2) or of GELU (variant 7).
    let baby = GPTConfig(vocabSize: 65, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128)
    for (variant, name) in [(Variant.min, "attention → c_proj(min(h_t, h_{t−1}))"), (.mlpMin, "GELU → min(u_t, u_{t−1})")] {
        benchTrain(title: "Hilsenbek \(variant.rawValue) training step, \(name)", config: baby, batch: 12, variant: variant,
                   warmup: 3, steps: options.quick ? 5 : 10, rounds: options.rounds ?? (options.quick ? 2 : 3),
                   torch: torch, root: root, peakAll: peakAll, profile: options.profile)
    }
}
if w.contains("decode") {
    let contexts = options.contexts ?? (options.quick ? [1024, 16384, 131_072] : (10...19).map { 1 << $0 })
    benchDecode(dims: options.dims ?? [64, 128], contexts: contexts, rounds: options.rounds ?? (options.quick ? 2 : 3),
                torch: torch, root: root, dram: (dram.allBest, dram.allMedian))
}
if w.contains("aaren") {
    benchAaren(lengths: options.quick ? [1024, 16384] : [1024, 16384, 131_072], rounds: options.rounds ?? (options.quick ? 2 : 3),
               torch: torch, root: root, dramBest: dram.allBest)
}
if w.contains("chela") {
    benchChela(lengths: options.quick ? [4096, 16384] : [4096, 16384, 65536], rounds: options.rounds ?? (options.quick ? 2 : 3),
               torch: torch, root: root, peakAll: peakAll, dramBest: dram.allBest)
}
if w.contains("block") {
    benchBlockDecode(batch: options.quick ? 16 : 64, context: options.quick ? 1024 : 2048, rounds: options.rounds ?? (options.quick ? 1 : 2),
                     torch: torch, root: root, dramBest: dram.allBest)
}
print("\ntotal \(f(now() - started, 0)) s")
