"""ONNX's checker on an exported model: python3 check.py model.onnx (exit 0 and "ok" when valid).

full_check adds strict shape inference. The opset must be one ONNX 1.12 knows (at most 17)."""
import sys

import onnx

model = onnx.load(sys.argv[1])
onnx.checker.check_model(model, full_check=True)
opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
if opsets.get("ai.onnx", 0) > 17:
    sys.exit(f"{sys.argv[1]}: opset {opsets['ai.onnx']} (at most 17)")
print(f"ok {sys.argv[1]}: opset {opsets}, {len(model.graph.node)} nodes, "
      f"{sum(1 for _ in model.graph.initializer)} initializers")
