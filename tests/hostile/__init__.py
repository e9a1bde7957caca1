"""The hostile suite (issue 15): generated and hand-made attacks from outside, slow clients."""
