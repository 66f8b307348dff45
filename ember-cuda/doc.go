// Package cuda will hold Ember's CUDA device: kernels shipped as embedded PTX, the
// driver API and cuBLAS loaded with dlopen at run time, streams, events and peer
// copies. It implements ember-core's device interface; the model, the layer split
// and the pipeline come from ember-core and are not re-implemented here.
package cuda
