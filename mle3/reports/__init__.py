"""The ASPICE MLE.3 work products 04-11, 11-07, 13-65, 11-06 as HTML or PDF."""

from .products import WORK_PRODUCTS, Context
from .render import NotApproved, Rendered, render_document

__all__ = ["WORK_PRODUCTS", "Context", "NotApproved", "Rendered", "render_document"]
