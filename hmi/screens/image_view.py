"""Part images with their boxes: a read-only view (operator) and a box editor (review)."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem, QGraphicsScene, QGraphicsSimpleTextItem, QGraphicsView, QWidget

from hmi.screens.style import BOX_LABEL_PX
from inspector.records.parts import Box

BOX_COLOR = QColor("#ff1744")
DRAFT_COLOR = QColor("#00e5ff")


def load_pixmap(path: str | None) -> QPixmap | None:
    if not path:
        return None
    image = QImage(path)
    return None if image.isNull() else QPixmap.fromImage(image)


#: a finding to draw: its label, its box (frame pixels) and, for an anomaly or segmentation region, its outline
Outlined = tuple[str, tuple[float, float, float, float], list[tuple[float, float]]]


class PartImage(QWidget):
    """An image fitted to the widget, each finding outlined (its region, else its box) and labelled with its class and score."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.pixmap: QPixmap | None = None
        self.boxes: list[Outlined] = []
        self.caption = ""
        self.missing = "no image yet"
        self.setMinimumSize(320, 240)

    def show_part(self, image_path: str | None, boxes: list[Outlined], caption: str, missing: str = "no image stored") -> None:
        """Show one part's image and boxes; ``missing`` says why there is no image (pending, fail-safe, ...)."""
        self.pixmap = load_pixmap(image_path)
        self.boxes = boxes
        self.caption = caption
        self.missing = "" if self.pixmap else missing
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.fillRect(self.rect(), QColor("#102027"))
        if self.pixmap is not None:
            scale = min(self.width() / self.pixmap.width(), (self.height() - 36) / self.pixmap.height())
            w, h = self.pixmap.width() * scale, self.pixmap.height() * scale
            ox, oy = (self.width() - w) / 2, 36 + (self.height() - 36 - h) / 2
            painter.drawPixmap(QRectF(ox, oy, w, h), self.pixmap, QRectF(self.pixmap.rect()))
            font = QFont(self.font())
            font.setPixelSize(BOX_LABEL_PX)
            font.setBold(True)
            painter.setFont(font)
            taken: list = []
            for label, (x1, y1, x2, y2), outline in self.boxes:
                rect = QRectF(ox + x1 * scale, oy + y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale)
                painter.setPen(QPen(BOX_COLOR, 4))
                painter.setBrush(Qt.NoBrush)
                if len(outline) >= 3:
                    painter.drawPolygon(QPolygonF([QPointF(ox + x * scale, oy + y * scale) for x, y in outline]))
                else:
                    painter.drawRect(rect)
                text_rect = painter.fontMetrics().boundingRect(label).adjusted(-6, -2, 6, 2)
                text_rect.moveBottomLeft(rect.topLeft().toPoint())
                while any(text_rect.intersects(other) for other in taken):  # stacked, never on top of another
                    text_rect.translate(0, text_rect.height() + 2)
                taken.append(text_rect)
                painter.fillRect(text_rect, BOX_COLOR)
                painter.setPen(QColor("white"))
                painter.drawText(text_rect, Qt.AlignCenter, label)
        painter.setPen(QColor("#eceff1"))
        painter.drawText(QRectF(8, 0, self.width() - 16, 34), Qt.AlignVCenter | Qt.AlignLeft, self.caption)
        if self.missing:  # why this part has no image, where the image would be
            font = QFont(self.font())
            font.setPixelSize(24)
            painter.setFont(font)
            painter.setPen(QColor("#90a4ae"))
            painter.drawText(QRectF(8, 36, self.width() - 16, self.height() - 44), Qt.AlignCenter | Qt.TextWordWrap, self.missing)
        painter.end()


class BoxItem(QGraphicsRectItem):
    """One editable box; reports its new place when a drag ends."""

    def __init__(self, index: int, box: Box, moved: Callable[[int, QRectF], None]) -> None:
        super().__init__(QRectF(0, 0, box.x2 - box.x1, box.y2 - box.y1))
        self.index = index
        self.moved = moved
        self.setPos(box.x1, box.y1)
        self.setPen(QPen(DRAFT_COLOR, 3))
        self.setBrush(QBrush(QColor(0, 229, 255, 40)))
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable)
        # the label keeps its size on screen whatever the image's zoom, on a dark plate so it reads on any image
        self.plate = QGraphicsRectItem(self)
        self.plate.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        self.plate.setBrush(QBrush(QColor(16, 32, 39, 220)))
        self.plate.setPen(QPen(Qt.NoPen))
        self.label = QGraphicsSimpleTextItem(box.cls, self.plate)
        self.label.setBrush(QBrush(DRAFT_COLOR))
        font = QFont()
        font.setPixelSize(BOX_LABEL_PX)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setPos(4, 1)
        text = self.label.boundingRect()
        self.plate.setRect(QRectF(0, 0, text.width() + 8, text.height() + 2))

    def label_size(self) -> tuple[float, float]:
        """The label's width and height in screen pixels."""
        rect = self.plate.rect()
        return rect.width(), rect.height()

    def scene_box(self) -> QRectF:
        return self.mapRectToScene(self.rect())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        self.moved(self.index, self.scene_box())


class BoxEditor(QGraphicsView):
    """Drag a box to move it, drag on the image to draw a new one, tap a box to select it."""

    def __init__(self, on_add: Callable[[QRectF], None], on_move: Callable[[int, QRectF], None], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.Antialiasing)
        self.setBackgroundBrush(QColor("#102027"))
        self.on_add = on_add
        self.on_move = on_move
        self.box_items: list[BoxItem] = []
        self._drawing: QGraphicsRectItem | None = None
        self._origin = QPointF()
        self._image_rect = QRectF()
        self.setMinimumSize(320, 240)

    def show_part(self, image_path: str | None, boxes: list[Box], selected: int | None = None) -> None:
        scene = self.scene()
        scene.clear()
        self.box_items = []
        pixmap = load_pixmap(image_path)
        if pixmap is None:
            scene.addSimpleText("no image").setBrush(QBrush(QColor("white")))
            self._image_rect = QRectF()
            return
        scene.addPixmap(pixmap).setZValue(-1)
        self._image_rect = QRectF(pixmap.rect())
        scene.setSceneRect(self._image_rect)
        for i, box in enumerate(boxes):
            item = BoxItem(i, box, self.on_move)
            scene.addItem(item)
            item.setSelected(i == selected)
            self.box_items.append(item)
        self.fitInView(self._image_rect, Qt.KeepAspectRatio)
        self.place_labels()

    def place_labels(self) -> None:
        """Put each box's label above its box (inside it at the image's top edge), stacked so no two overlap."""
        scale = self.transform().m11() or 1.0
        taken: list[QRectF] = []
        for item in self.box_items:
            width, height = item.label_size()
            corner = self.mapFromScene(item.mapToScene(item.rect().topLeft()))
            top = corner.y() - height if corner.y() - height >= self.mapFromScene(self._image_rect.topLeft()).y() else corner.y()
            rect = QRectF(corner.x(), top, width, height)
            while any(rect.intersects(other) for other in taken):
                rect.translate(0, height + 2)
            taken.append(rect)
            item.plate.setPos((rect.left() - corner.x()) / scale, (rect.top() - corner.y()) / scale)

    def selected_index(self) -> int | None:
        chosen = [item.index for item in self.box_items if item.isSelected()]
        return chosen[0] if chosen else None

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if not self._image_rect.isEmpty():
            self.fitInView(self._image_rect, Qt.KeepAspectRatio)
            self.place_labels()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        item = self.itemAt(event.position().toPoint())
        if isinstance(item, (BoxItem, QGraphicsSimpleTextItem)) or isinstance(item, QGraphicsRectItem) and isinstance(item.parentItem(), BoxItem) or self._image_rect.isEmpty():
            super().mousePressEvent(event)
            return
        self.scene().clearSelection()
        self._origin = self.mapToScene(event.position().toPoint())
        self._drawing = self.scene().addRect(QRectF(self._origin, self._origin), QPen(DRAFT_COLOR, 2, Qt.DashLine))

    def mouseMoveEvent(self, event) -> None:  # noqa: N802
        if self._drawing is None:
            super().mouseMoveEvent(event)
            return
        self._drawing.setRect(QRectF(self._origin, self.mapToScene(event.position().toPoint())).normalized())

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802
        if self._drawing is None:
            super().mouseReleaseEvent(event)
            return
        rect = QRectF(self._origin, self.mapToScene(event.position().toPoint())).normalized().intersected(self._image_rect)
        self.scene().removeItem(self._drawing)
        self._drawing = None
        if rect.width() >= 4 and rect.height() >= 4:  # a tap is not a box
            self.on_add(rect)
