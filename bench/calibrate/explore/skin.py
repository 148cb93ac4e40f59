import json, sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, EYES, cast, run_mesh, C
def lab(px): return C.lin_to_lab(C.srgb_to_lin(px/255.0))
def patch(img,c,r):
    x0,y0=int(max(c[0]-r,0)),int(max(c[1]-r,0)); x1,y1=int(c[0]+r),int(c[1]+r)
    return img[y0:y1,x0:x1].reshape(-1,3)
def skin(img, m):
    le=m[EYES[0]][:,:2].mean(0); re=m[EYES[1]][:,:2].mean(0)
    iod=np.linalg.norm(re-le); r=0.18*iod
    mid=(le+re)/2; nose=m[1][:2]; br=(mid+nose)/2
    px=np.concatenate([patch(img,le+[0,0.45*iod],r),patch(img,re+[0,0.45*iod],r),patch(img,br,0.8*r)])
    L=lab(px.astype(np.float64)); a,b=L[:,1].mean(),L[:,2].mean()
    return np.degrees(np.arctan2(b,a)), np.hypot(a,b), L[:,0].mean()
def mesh_for(img, centre, side): return run_mesh(sess, img.astype(np.uint8), centre, side)
rows={}
# calibration originals
for src in sorted(Path('/work/shared/calibration/london').glob('*_03.jpg')):
    img=np.asarray(Image.open(src).convert('RGB')).astype(np.float64)
    pts=C.read_tem(src.with_suffix('.tem'))[0] if isinstance(C.read_tem(src.with_suffix('.tem')),tuple) else C.read_tem(src.with_suffix('.tem'))
    pts=np.asarray(pts)
    eye=(pts[0]+pts[1])/2; chin=pts[129]; reach=np.linalg.norm(chin-eye)
    m=mesh_for(img,(eye+chin)/2,2.3*reach)
    for kind,s in [('none',0)]+[(k,s) for k in ('warm','cool','green') for s in (0.1,0.2,0.3,0.4,0.5)]:
        im=img if s==0 else cast(img,kind,s)
        rows.setdefault(f'{kind}{s}',[]).append(skin(im,m))
    print(src.name[:3], end=' ', flush=True)
print()
for k,v in rows.items():
    v=np.array(v)
    print(f"{k:10s} hue [{v[:,0].min():5.0f},{v[:,0].max():5.0f}] med {np.median(v[:,0]):4.0f}  chroma [{v[:,1].min():4.0f},{v[:,1].max():4.0f}] med {np.median(v[:,1]):4.0f}  L [{v[:,2].min():3.0f},{v[:,2].max():3.0f}]")
