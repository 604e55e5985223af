#include "bindings/metric_params.h"

#include <pybind11/stl.h>

#include <vector>

#include "bindings/arrays.h"

namespace metric_params {

void read(const pybind11::dict& a, bc::MetricParams& p) {
  if (a.contains("k")) p.k = a["k"].cast<int>();
  if (a.contains("thresholds")) p.thresholds = a["thresholds"].cast<std::vector<float>>();
  if (a.contains("evenly")) p.evenly = a["evenly"].cast<bool>();
  if (a.contains("from_logits")) p.from_logits = a["from_logits"].cast<bool>();
  if (a.contains("class_id")) p.class_id = a["class_id"].cast<int>();
  if (a.contains("multi_label")) p.multi_label = a["multi_label"].cast<bool>();
  if (a.contains("label_weights")) p.label_weights = a["label_weights"].cast<std::vector<float>>();
  if (a.contains("row_max")) p.row_max = a["row_max"].cast<bool>();
  if (a.contains("loss_kind")) p.loss_kind = a["loss_kind"].cast<int>();
  if (a.contains("label_smoothing")) p.label_smoothing = a["label_smoothing"].cast<float>();
  if (a.contains("loss_param")) p.loss_params = arrays::numbers(a["loss_param"], "loss_param");
}

}  // namespace metric_params
