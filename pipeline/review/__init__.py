"""Review and sign-off of a run's briefs, by people (issue 14).

- `python -m pipeline review [--out outputs] [--host 127.0.0.1] [--port 8765]`:
  a local server (`pipeline.review.server`, Starlette on uvicorn) on the run
  `<out>/latest` points at: approve, reject with a reason, edit the French or
  English wording, comment each summary sentence and quote; sign off a brief
  once all are decided;
- decisions live in `<out>/review.sqlite` (`pipeline.review.store`), keyed
  by the sentence's identity (`pipeline.review.state.item_key`: story, what
  it says, what it cites), so they carry over to later runs where the
  sentence is unchanged;
- `python -m pipeline review export --to DIR [--signed-off-only]`
  (`pipeline.review.export`): the reviewed briefs as Markdown and JSON.
"""

from .state import ReviewError, item_key, latest_run, run_states, story_state  # noqa: F401
from .store import FILE_NAME, ReviewStore, open_store  # noqa: F401
