/// Everything that can go wrong while drawing or writing a figure.
///
/// Usage: `do { try fig.render(to: "figures/loss.png") } catch let e as PlotError { print(e) }`
public enum PlotError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The caller handed over data that cannot describe a figure (mismatched lengths, bad sizes).
    case invalidInput(String)
    /// `gnuplot` is not on `PATH`.
    case gnuplotNotFound
    /// gnuplot ran but failed; `message` is what it printed.
    case gnuplotFailed(status: Int32, message: String, script: String)
    /// libpng refused to read or write; `message` is libpng's own text.
    case png(String)
    /// A file could not be written or moved into place.
    case io(String)

    public var description: String {
        switch self {
        case .invalidInput(let why):
            return "Plots: invalid input: \(why)"
        case .gnuplotNotFound:
            return "Plots: gnuplot not found on PATH. Install it with `apt-get install gnuplot-nox` "
                + "(or run `make setup`); the plain `gnuplot` package pulls in Qt."
        case .gnuplotFailed(let status, let message, let script):
            return "Plots: gnuplot failed (exit \(status)) on \(script):\n\(message)"
        case .png(let message):
            return "Plots: libpng: \(message)"
        case .io(let message):
            return "Plots: \(message)"
        }
    }
}
