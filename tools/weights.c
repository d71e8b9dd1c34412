/* STUB: replaced by the interpreter work. */
#include "cmd.h"
WeightSource tool_weight_source(StFile *f) { return (WeightSource){NULL, f}; }
