"""``mle3 serve``: the web view of training (Starlette on uvicorn, extra ``serve``)."""
