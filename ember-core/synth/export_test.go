package synth

// Successors is successors, for the external tests.
var Successors = successors
