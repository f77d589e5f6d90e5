#!/usr/bin/env python3
"""moto's server for sagevpc's tests (test-only): SageMaker for tests/localstack_studio.rs.

moto 5.1 answers SageMaker timestamps as "YYYY-MM-DD HH:MM:SS" strings; the AWS JSON
protocol (and so every SDK) wants epoch seconds. This launcher stores epoch seconds on
the domain objects, then runs moto's own server with the given arguments
(`-H 127.0.0.1 -p PORT`).
"""

import sys
import time

from moto.sagemaker import models

_init = models.Domain.__init__


def _domain_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    now = time.time()
    self.creation_time = now
    self.last_modified_time = now


models.Domain.__init__ = _domain_init

from moto.server import main  # noqa: E402  (after the patch)

if __name__ == "__main__":
    main(sys.argv[1:])
