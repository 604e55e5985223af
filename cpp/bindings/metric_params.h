// The metric constants Python's metrics pass (metrics.Metric.native_args: "k", "thresholds",
// "evenly", "from_logits", "class_id", "multi_label", "label_weights", "row_max", "loss_kind",
// "label_smoothing", "loss_param", each optional), read once for Program.set_metrics and the
// metric_counts entry point.
#pragma once
#include <pybind11/pybind11.h>

#include "kernels/loss/loss.h"

namespace metric_params {

void read(const pybind11::dict& a, bc::MetricParams& p);  // sets the keys a holds, leaves the others

}  // namespace metric_params
