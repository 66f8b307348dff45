// Package core is the root of ember-core: the pure-Go half of Ember.
//
// Everything that can be tested anywhere lives in its sub-packages: model files
// (config, safetensors), model resolution, the memory planner, the device
// interface, the CPU backend, the Qwen3 model and its pipeline, the tokenizer and
// sampling. ember-core imports no other Ember module.
package core
