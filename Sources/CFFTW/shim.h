// FFTW 3, single precision (fftwf_*): Debian's libfftw3-dev, pkg-config fftw3f.
// <complex.h> must not come first: fftwf_complex then stays float[2], a (Float, Float) in Swift.
#include <fftw3.h>

// Planner flags are macros with shifts; spelled out here so Swift sees plain constants.
static inline unsigned cfftw_estimate(void) { return FFTW_ESTIMATE; }
