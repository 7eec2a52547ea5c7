"""The bundle workflow, its step engine and one module per step mechanism:

workflow.py     BundleWorkflow: the run loop, the updates, the signal, the query
engine.py       the step engine and its registry (STEP_KINDS, MECHANISMS)
mechanism.py    the interface between the engine and a mechanism
case_state.py   the case's and each step's state, the friction outbox
agency_step.py  a step done by an agency: submission, rejections, the register
task_step.py    a step done by a field worker, milestone by milestone
rules.py        material rules judged on the processing day
window.py       the service window's hours
notify.py       what the citizen is told
timers.py       one deadline timer for SLAs and milestones alike
views.py        the progress view and the notebook's case record

Where each friction is detected: workflows.detectors.
"""

from workflows.bundle.agency_step import MAX_REJECTIONS
from workflows.bundle.workflow import BundleWorkflow

__all__ = ["MAX_REJECTIONS", "BundleWorkflow"]
