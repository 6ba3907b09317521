"""The reference example (ezpyp's README), with only the package name changed.

python examples/simple.py [FOLDER]
mpiexec -n 4 python examples/simple.py [FOLDER]
"""

import sys

from ezpipe import Pipeline, as_pickle_step
from ezpipe.steps import PlaceHolder

folder = sys.argv[1] if len(sys.argv) > 1 else "/tmp/ezpipe-simple"

# Define a pipeline instance to link together functions as steps
pipeline = Pipeline(folder, "my_pipeline")


# Apply decorator to link alpha to pipeline
@as_pickle_step(pipeline)
def alpha(x):
    return x**2


# Not evaluated, yet
step_alpha = alpha(3)


@as_pickle_step(pipeline)
def beta(x):
    return x**3


step_beta = beta(2)


# For the final step, we define the dependencies of gamma to be other steps
@as_pickle_step(pipeline, depends_on=[step_alpha, step_beta])
def gamma(a, b):
    return a / b


# Still not evaluated: PlaceHolder marks gamma's inputs as alpha's and beta's outputs
step_gamma = gamma(PlaceHolder(step_alpha), PlaceHolder(step_beta))

# Initialize the schema for our workflow (steps cannot be changed now)
pipeline.initialize_schema()
# Run the pipeline steps
pipeline.execute()
# Results from cache can be loaded with, e.g. (unless a partial run left gamma out)
if step_gamma.lookup().cached():
    print(f"Pipeline result for gamma: {pipeline.get_result('gamma')}")
