/** Box corners in detect-frame pixels: x1, y1 (top-left), x2, y2 (bottom-right). */
export type Box = [number, number, number, number];

export interface Detection {
  label: string;
  classId: number;
  score: number;
  box: Box;
}
